// A small live line chart over the rolling series (recharts), without
// animation so a once-a-second update does not jitter.
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

import { formatClock } from '../format';

/** One line: which field of the rows it draws. */
export interface ChartLine<Row> {
  key: Exclude<keyof Row, 't'> & string;
  name: string;
  colour: string;
}

/** Rows are points in time (`t`, unix ms) with a number, or a gap (null), per line. */
export function TimeChart<Row extends { t: number }>({
  data,
  lines,
  format,
  domain,
}: {
  data: Row[];
  lines: ChartLine<Row>[];
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
