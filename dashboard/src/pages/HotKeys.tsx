// Hot keys: the hottest keys now, refreshed every second from
// GET /api/cache/hot-keys — estimated requests/s, share of all traffic, the
// owning node and whether this gateway's near cache holds the key.
import { useState } from 'react';
import { Alert, Card, Col, Empty, Progress, Row, Segmented, Space, Statistic, Table, Tag, Tooltip } from 'antd';

import { HOT_KEY_LIMITS, hotKeyRows, listedShare, type HotKeyRow, useHotKeys } from '../data/hotKeys';
import { formatCount, formatOps, formatPercent } from '../format';

export function HotKeys() {
  const [limit, setLimit] = useState<number>(20);
  const { answer, error } = useHotKeys(limit);
  if (answer === null) {
    return error === null ? (
      <Card size="small" title="hot keys" loading />
    ) : (
      <Alert type="error" showIcon title={`${error.code}: ${error.message}`} data-testid="hot-keys-error" />
    );
  }
  if (!answer.enabled) {
    return <Empty description={answer.note ?? 'hot-key tracking is off'} data-testid="hot-keys-off" />;
  }
  const rows = hotKeyRows(answer);
  const window = answer.window;
  return (
    <Row gutter={[16, 16]}>
      <Col span={24}>
        <Space size="large" wrap>
          <Statistic title="key requests/s (estimated)" value={formatOps(answer.total_requests_per_sec)} data-testid="hot-total-rate" />
          <Statistic title={`share of the top ${rows.length}`} value={formatPercent(listedShare(answer))} />
          <Statistic title="keys tracked" value={`${formatCount(answer.tracked)} / ${formatCount(answer.capacity)}`} />
          <Statistic title="hot (near-cache candidates)" value={formatCount(answer.hot)} />
          <Statistic title="window" value={`half-life ${window.half_life_secs} s, 1 in ${formatCount(window.sample_one_in)} sampled`} />
        </Space>
      </Col>
      {error !== null && (
        <Col span={24}>
          <Alert type="warning" showIcon title={`last refresh failed (${error.code}); showing the previous list`} />
        </Col>
      )}
      <Col span={24}>
        <Card
          size="small"
          title="hottest keys, refreshed every second"
          extra={
            <Segmented<number>
              options={HOT_KEY_LIMITS.map((n) => ({ label: `top ${n}`, value: n }))}
              value={limit}
              onChange={setLimit}
            />
          }
        >
          <Table<HotKeyRow>
            size="small"
            rowKey="id"
            data-testid="hot-keys-table"
            dataSource={rows}
            pagination={false}
            locale={{ emptyText: 'no traffic yet' }}
            columns={[
              { title: '#', dataIndex: 'rank', width: 48 },
              {
                title: 'key',
                dataIndex: 'label',
                render: (label: string, row: HotKeyRow) => (
                  <span data-testid="hot-key">
                    <code>{label}</code>
                    {row.truncatedFrom !== null && (
                      <Tooltip title={`the first 64 of ${row.truncatedFrom} bytes`}>
                        <Tag style={{ marginLeft: 6 }}>truncated</Tag>
                      </Tooltip>
                    )}
                  </span>
                ),
              },
              {
                title: 'requests/s',
                dataIndex: 'requestsPerSec',
                align: 'right',
                render: (v: number) => <span data-testid="hot-key-rate">{formatOps(v)}</span>,
              },
              {
                title: 'share of traffic',
                dataIndex: 'share',
                width: 220,
                render: (v: number) => (
                  <Progress percent={Math.round(v * 1000) / 10} size="small" format={() => formatPercent(v)} />
                ),
              },
              { title: 'node', dataIndex: 'node' },
              {
                title: 'near cache',
                dataIndex: 'nearCached',
                render: (near: boolean) => (near ? <Tag color="green">held</Tag> : <span>no</span>),
              },
            ]}
          />
        </Card>
      </Col>
    </Row>
  );
}
