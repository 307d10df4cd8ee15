// Adding and draining Redis-fleet nodes through `/api/cluster/nodes`. On a
// server without that API (the embedded store) it says so instead. Both need
// the admin role; for any other they are disabled with the reason.
import { useCallback, useEffect, useState } from 'react';
import { Alert, Button, Card, Form, Input, Popconfirm, Space, Table, Tooltip } from 'antd';

import { addClusterNode, ApiError, drainClusterNode, probe, type Probe } from '../api/rest';
import type { ClusterNode, ClusterNodesResponse } from '../api/types';
import { useRefusal } from '../data/session';

export function Topology() {
  const [listing, setListing] = useState<Probe<ClusterNodesResponse> | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [address, setAddress] = useState('');
  const cannotChange = useRefusal('admin');

  const refresh = useCallback(() => {
    void probe<ClusterNodesResponse>('/api/cluster/nodes').then(setListing);
  }, []);
  useEffect(refresh, [refresh]);

  const run = (action: () => Promise<unknown>) => {
    setError(null);
    action()
      .then(refresh)
      .catch((e: unknown) => setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))));
  };

  if (listing === null) return <Card size="small" title="topology" loading />;
  if (listing.state === 'missing') {
    return (
      <Card size="small" title="topology">
        <Alert
          type="info"
          showIcon
          data-testid="topology-unavailable"
          title="Topology changes need a Redis-fleet backend"
          description="This server runs the embedded store: its shards (above) are fixed at start-up by ROOST_SHARDS. Start Roost with REDIS_CLUSTER_NODES on a version that has the topology API (/api/cluster/nodes) to add and drain nodes here."
        />
      </Card>
    );
  }
  if (listing.state === 'error') {
    return <Alert type="error" showIcon title={`${listing.error.code}: ${listing.error.message}`} />;
  }
  return (
    <Card size="small" title="topology">
      {error !== null && <Alert type="error" showIcon closable title={`${error.code}: ${error.message}`} />}
      <Space style={{ margin: '12px 0' }}>
        <Form layout="inline" onFinish={() => run(() => addClusterNode(address))} disabled={cannotChange !== null}>
          <Input placeholder="redis://10.0.0.5:6379" value={address} onChange={(e) => setAddress(e.target.value)} />
          <Popconfirm
            title={`Add ${address} to the ring?`}
            description="Keys it now owns move to it."
            onConfirm={() => run(() => addClusterNode(address))}
            disabled={address.trim() === '' || cannotChange !== null}
          >
            <Tooltip title={cannotChange}>
              <Button type="primary" disabled={address.trim() === '' || cannotChange !== null}>
                Add node
              </Button>
            </Tooltip>
          </Popconfirm>
        </Form>
      </Space>
      <Table<ClusterNode>
        size="small"
        rowKey="id"
        dataSource={listing.data.nodes}
        pagination={false}
        columns={[
          { title: 'node', dataIndex: 'id' },
          { title: 'address', dataIndex: 'address' },
          { title: 'state', dataIndex: 'state' },
          {
            title: '',
            key: 'drain',
            render: (_: unknown, n: ClusterNode) => (
              <Popconfirm
                title={`Drain ${n.id}?`}
                description="Its keys move to the other nodes, then it leaves the ring."
                onConfirm={() => run(() => drainClusterNode(n.id))}
                disabled={cannotChange !== null}
              >
                <Tooltip title={cannotChange}>
                  <Button danger size="small" disabled={cannotChange !== null}>
                    Drain
                  </Button>
                </Tooltip>
              </Popconfirm>
            ),
          },
        ]}
      />
    </Card>
  );
}
