// Nodes: each node's health, ring share, keys, memory, ops and errors, the ring
// picture, and adding or draining nodes through the topology API when the
// server has one (a Redis-fleet backend).
import { Alert, Card, Col, Row, Table, Tag } from 'antd';

import type { NodeState, SnapshotFrame } from '../api/types';
import { RING_COLOURS, RingPicture } from '../components/RingPicture';
import { formatBytes, formatCount, formatOps, formatPercent } from '../format';
import { Topology } from './Topology';

const STATE_COLOURS: Record<string, string> = { up: 'green', down: 'red', draining: 'orange' };

export function Nodes({ latest }: { latest: SnapshotFrame | null }) {
  if (latest === null) {
    return <Alert type="info" showIcon title="Waiting for the first snapshot from /ws/metrics…" />;
  }
  const colourOf = new Map(latest.nodes.map((n, i) => [n.id, RING_COLOURS[i % RING_COLOURS.length]]));
  return (
    <Row gutter={[16, 16]}>
      <Col xs={24} xl={17}>
        <Card size="small" title={`nodes (${latest.backend} backend)`}>
          <Table<NodeState>
            size="small"
            rowKey="id"
            dataSource={latest.nodes}
            pagination={latest.nodes.length > 20 ? { pageSize: 20 } : false}
            columns={[
              {
                title: 'node',
                dataIndex: 'id',
                render: (id: string) => (
                  <span data-testid="node-id">
                    <span style={{ color: colourOf.get(id), marginRight: 6 }}>●</span>
                    {id}
                  </span>
                ),
              },
              {
                title: 'health',
                dataIndex: 'state',
                render: (s: string) => <Tag color={STATE_COLOURS[s] ?? 'default'}>{s}</Tag>,
              },
              { title: 'ring share', dataIndex: 'ring_share', render: (v: number) => formatPercent(v) },
              { title: 'keys', dataIndex: 'keys', render: (v: number) => formatCount(v) },
              {
                title: 'memory',
                key: 'memory',
                render: (_: unknown, n: NodeState) => `${formatBytes(n.used_bytes)} / ${formatBytes(n.capacity_bytes)}`,
              },
              { title: 'ops/s', dataIndex: 'ops_per_second', render: (v: number) => formatOps(v) },
              { title: 'ops', dataIndex: 'ops', render: (v: number) => formatCount(v) },
              { title: 'errors', dataIndex: 'errors', render: (v: number) => formatCount(v) },
            ]}
          />
        </Card>
      </Col>
      <Col xs={24} xl={7}>
        <Card size="small" title="hash ring">
          <div style={{ display: 'flex', justifyContent: 'center' }}>
            <RingPicture nodes={latest.nodes} />
          </div>
        </Card>
      </Col>
      <Col span={24}>
        <Topology />
      </Col>
    </Row>
  );
}
