// A small live line chart over the rolling series (recharts), without
// animation so a once-a-second update does not jitter.
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import type { SeriesPoint } from '../data/series';
import { formatClock } from '../format';

type NumericKey = 'ops' | 'hitRatio' | 'p50' | 'p95' | 'p99' | 'keys' | 'memory' | 'evictions';

export interface ChartLine {
  key: NumericKey;
  name: string;
  colour: string;
}

export function TimeChart({
  data,
  lines,
  format,
  domain,
}: {
  data: SeriesPoint[];
  lines: ChartLine[];
  format: (value: number) => string;
  domain?: [number, number];
}) {
  return (
    <ResponsiveContainer width="100%" height={220}>
      <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={['dataMin', 'dataMax']}
          tickFormatter={(t: number) => formatClock(t)}
          minTickGap={40}
        />
        <YAxis width={64} domain={domain ?? [0, 'auto']} tickFormatter={(v: number) => format(v)} />
        <Tooltip
          labelFormatter={(t) => formatClock(Number(t))}
          formatter={(v) => (typeof v === 'number' ? format(v) : String(v))}
        />
        {lines.length > 1 && <Legend />}
        {lines.map((l) => (
          <Line
            key={l.key}
            dataKey={l.key}
            name={l.name}
            stroke={l.colour}
            dot={false}
            isAnimationActive={false}
            connectNulls={false}
          />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
