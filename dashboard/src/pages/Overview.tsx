// Overview: what the cache is doing now (ops/s, hit ratio, latency, keys,
// memory, evictions) and over the last five minutes, plus recent events.
import { Alert, Card, Col, List, Progress, Row, Statistic, Tag, Typography } from 'antd';

import type { StreamState } from '../data/stream';
import { formatBytes, formatClock, formatCount, formatMs, formatOps, formatPercent, formatUptime } from '../format';
import { TimeChart } from '../components/TimeChart';

const EVENT_COLOURS: Record<string, string> = {
  startup: 'blue',
  config: 'geekblue',
  flush: 'orange',
  node_ejected: 'red',
  node_readmitted: 'green',
  topology_change: 'purple',
  task_failed: 'volcano',
  warming: 'cyan',
  region: 'magenta',
};

function Figure({ id, title, value, hint }: { id: string; title: string; value: string; hint?: string }) {
  return (
    <Card size="small">
      <div data-testid={id}>
        <Statistic title={title} value={value} />
      </div>
      {hint !== undefined && <Typography.Text type="secondary">{hint}</Typography.Text>}
    </Card>
  );
}

export function Overview({ stream }: { stream: StreamState }) {
  const { latest, series } = stream;
  if (latest === null) {
    return <Alert type="info" showIcon title="Waiting for the first snapshot from /ws/metrics…" />;
  }
  const point = latest.point;
  const memoryRatio = latest.memory.used_bytes / Math.max(1, latest.memory.max_bytes);
  const busiest = Object.entries(point.ops_by_op)
    .sort((a, b) => b[1] - a[1])
    .map(([op, rate]) => `${op} ${formatOps(rate)}`)
    .join(' · ');
  return (
    <>
      <Row gutter={[16, 16]}>
        <Col xs={12} md={8} xl={4}>
          <Figure id="ops-per-second" title="ops/s" value={formatOps(point.ops_per_second)} hint={busiest || 'idle'} />
        </Col>
        <Col xs={12} md={8} xl={4}>
          <Figure
            id="hit-ratio"
            title="hit ratio"
            value={formatPercent(point.hit_ratio)}
            hint={`since start ${formatPercent(latest.hit_ratio_lifetime)}`}
          />
        </Col>
        <Col xs={12} md={8} xl={4}>
          <Figure
            id="latency-p99"
            title="p99 latency"
            value={formatMs(point.latency_ms.p99)}
            hint={`p50 ${formatMs(point.latency_ms.p50)} · p95 ${formatMs(point.latency_ms.p95)}`}
          />
        </Col>
        <Col xs={12} md={8} xl={4}>
          <Figure id="keys" title="keys" value={formatCount(point.keys)} hint={`${latest.nodes.length} nodes · ${latest.backend}`} />
        </Col>
        <Col xs={12} md={8} xl={4}>
          <Card size="small">
            <div data-testid="memory">
              <Statistic title="memory" value={formatBytes(latest.memory.used_bytes)} />
            </div>
            <Progress percent={Math.round(memoryRatio * 1000) / 10} size="small" />
            <Typography.Text type="secondary">of {formatBytes(latest.memory.max_bytes)}</Typography.Text>
          </Card>
        </Col>
        <Col xs={12} md={8} xl={4}>
          <Figure
            id="evictions"
            title="evictions"
            value={formatCount(point.evictions)}
            hint={`expirations ${formatCount(point.expirations)} · up ${formatUptime(latest.uptime_seconds)}`}
          />
        </Col>
      </Row>
      <Row gutter={[16, 16]} style={{ marginTop: 16 }}>
        <Col xs={24} xl={8}>
          <Card size="small" title="operations per second">
            <TimeChart data={series} lines={[{ key: 'ops', name: 'ops/s', colour: '#1677ff' }]} format={formatOps} />
          </Card>
        </Col>
        <Col xs={24} xl={8}>
          <Card size="small" title="hit ratio (per interval)">
            <TimeChart
              data={series}
              lines={[{ key: 'hitRatio', name: 'hit ratio', colour: '#52c41a' }]}
              format={(v) => formatPercent(v, 0)}
              domain={[0, 1]}
            />
          </Card>
        </Col>
        <Col xs={24} xl={8}>
          <Card size="small" title="latency inside Roost (per interval)">
            <TimeChart
              data={series}
              lines={[
                { key: 'p50', name: 'p50', colour: '#13c2c2' },
                { key: 'p95', name: 'p95', colour: '#fa8c16' },
                { key: 'p99', name: 'p99', colour: '#f5222d' },
              ]}
              format={formatMs}
            />
          </Card>
        </Col>
      </Row>
      <Card size="small" title="recent events" style={{ marginTop: 16 }}>
        <List
          size="small"
          dataSource={[...latest.events].reverse()}
          locale={{ emptyText: 'no events yet' }}
          renderItem={(e) => (
            <List.Item key={e.seq}>
              <Typography.Text type="secondary" style={{ marginRight: 12 }}>
                {formatClock(e.at_ms)}
              </Typography.Text>
              <Tag color={EVENT_COLOURS[e.kind] ?? 'default'}>{e.kind}</Tag>
              <span style={{ flex: 1 }}>{e.message}</span>
            </List.Item>
          )}
        />
      </Card>
    </>
  );
}
