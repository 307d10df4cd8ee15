// The cache warming panel: what GET /api/cache/warming says, refreshed every
// second — refresh-ahead and prefetch rates, prefetch precision and coverage,
// the origin budget in use, the last snapshot and start-up load, and new fleet
// nodes being given their hot keys. `WarmingView` draws one state and holds no
// transport logic, so it is tested by rendering it.
import { Alert, Card, Col, Descriptions, Empty, Progress, Row, Space, Statistic, Table, Tag, Tooltip, Typography } from 'antd';

import type { NodeWarmup, WarmingResponse, WarmingSnapshotStatus } from '../api/types';
import { pendingCard, StaleAlert } from '../components/PolledCard';
import {
  budgetShare,
  intervalLabel,
  LOAD_STATE_COLOURS,
  orderedWarmups,
  useWarming,
  warmupProgress,
  type WarmingState,
} from '../data/warming';
import { formatAgo, formatBytes, formatClock, formatCount, formatMs, formatOps, formatPercent } from '../format';

const TITLE = 'cache warming';
const NAMES = { title: TITLE, path: '/api/cache/warming', testId: 'warming-panel', prefix: 'warming' };

export function WarmingPanel() {
  return <WarmingView state={useWarming()} />;
}

export function WarmingView({ state }: { state: WarmingState }) {
  const pending = pendingCard(state, NAMES);
  const { answer, error } = state;
  if (pending !== null || answer === null) {
    return pending;
  }
  return (
    <Card
      size="small"
      title={TITLE}
      data-testid="warming-panel"
      extra={
        <Space>
          <Tag color={answer.enabled ? 'green' : 'default'} data-testid="warming-state">
            {answer.enabled ? 'on' : 'off'}
          </Tag>
          <Typography.Text type="secondary" data-testid="warming-interval">
            cycle every {intervalLabel(answer.interval_ms)}
          </Typography.Text>
        </Space>
      }
    >
      <StaleAlert error={error} prefix="warming" />
      {answer.enabled ? <Enabled answer={answer} nowMs={state.atMs} /> : <Off />}
    </Card>
  );
}

function Off() {
  return (
    <Empty
      data-testid="warming-off"
      description={
        <>
          Warming is off (<code>ROOST_WARMING=off</code>): no refresh-ahead, prefetch, snapshots or node warm-up.
          Read-through and single-flight still serve misses.
        </>
      }
    />
  );
}

function Figure({ id, title, value, hint }: { id: string; title: string; value: string; hint: string }) {
  return (
    <Card size="small">
      <div data-testid={id}>
        <Statistic title={title} value={value} />
      </div>
      <Typography.Text type="secondary">{hint}</Typography.Text>
    </Card>
  );
}

function Enabled({ answer, nowMs }: { answer: WarmingResponse; nowMs: number }) {
  const { budget, refresh, prefetch } = answer;
  const share = budgetShare(budget);
  return (
    <Row gutter={[16, 16]}>
      {!answer.origin && (
        <Col span={24}>
          <Alert
            type="info"
            showIcon
            data-testid="warming-no-origin"
            title="No origin configured (ROOST_ORIGIN_URL): refresh-ahead and prefetch have nothing to fetch from."
          />
        </Col>
      )}
      <Col xs={12} lg={6}>
        <Figure
          id="warming-refresh-rate"
          title="refreshes/s"
          value={formatOps(refresh.per_sec)}
          hint={`${formatCount(refresh.stored_total)} stored · ${formatCount(refresh.failed_total)} failed · ${formatCount(refresh.skipped_total)} skipped`}
        />
      </Col>
      <Col xs={12} lg={6}>
        <Figure
          id="warming-prefetch-rate"
          title="prefetches/s"
          value={formatOps(prefetch.per_sec)}
          hint={`${formatCount(prefetch.used_total)} used · ${formatCount(prefetch.wasted_total)} wasted of ${formatCount(prefetch.issued_total)}`}
        />
      </Col>
      <Col xs={12} lg={6}>
        <Figure
          id="warming-precision"
          title="prefetch precision"
          value={formatPercent(prefetch.precision)}
          hint={prefetch.precision === null ? 'nothing prefetched yet' : 'used / issued'}
        />
      </Col>
      <Col xs={12} lg={6}>
        <Figure
          id="warming-coverage"
          title="prefetch coverage"
          value={formatPercent(prefetch.coverage)}
          hint={prefetch.coverage === null ? 'no follow-up reads yet' : 'follow-up reads served by a prefetch'}
        />
      </Col>
      <Col xs={24} lg={12}>
        <Card size="small" title="origin budget (background fetches)">
          <div data-testid="warming-budget">
            <Statistic
              title="used / max requests/s"
              value={`${formatOps(budget.used_per_sec)} / ${formatCount(budget.max_rps)}`}
            />
          </div>
          <Progress percent={Math.round(share * 1000) / 10} format={() => formatPercent(share)} />
          <Typography.Text type="secondary">
            {formatCount(budget.denied_total)} background fetches skipped for want of a token ·{' '}
            {formatCount(answer.warmup.issued_total)} evicted hot keys fetched again ·{' '}
            {formatCount(prefetch.successor_rules)} successor and {formatCount(prefetch.pattern_rules)} pattern rules
          </Typography.Text>
        </Card>
      </Col>
      <Col xs={24} lg={12}>
        <Snapshots snapshot={answer.snapshot} nowMs={nowMs} />
      </Col>
      <Col span={24}>
        <NodeWarmups list={answer.node_warmups} nowMs={nowMs} />
      </Col>
    </Row>
  );
}

function Snapshots({ snapshot, nowMs }: { snapshot: WarmingSnapshotStatus | null; nowMs: number }) {
  if (snapshot === null) {
    return (
      <Card size="small" title="snapshots">
        <Empty
          data-testid="warming-no-snapshots"
          description="No snapshots: ROOST_DATA_DIR is unset or the backend is not the embedded store."
        />
      </Card>
    );
  }
  const last = snapshot.last_snapshot;
  const load = snapshot.last_load;
  return (
    <Card size="small" title="snapshots">
      <Descriptions size="small" column={1} data-testid="warming-snapshot">
        <Descriptions.Item label="last snapshot">
          {last === null ? (
            'none written yet'
          ) : (
            <Tooltip title={`at ${formatClock(last.at_ms)} UTC`}>
              <span data-testid="warming-snapshot-age">{formatAgo(last.at_ms, nowMs)}</span>
            </Tooltip>
          )}
        </Descriptions.Item>
        {last !== null && (
          <Descriptions.Item label="kept">
            <span data-testid="warming-snapshot-size">
              <span data-testid="warming-snapshot-entries">{formatCount(last.entries)}</span> entries ·{' '}
              {formatBytes(last.bytes)} · written in {formatMs(last.duration_ms)}
            </span>
          </Descriptions.Item>
        )}
        <Descriptions.Item label="start-up load">
          {load === null ? (
            'none'
          ) : (
            <span data-testid="warming-load">
              <Tag color={LOAD_STATE_COLOURS[load.state] ?? 'default'} data-testid="warming-load-state">
                {load.state}
              </Tag>
              <span data-testid="warming-load-entries">{formatCount(load.entries)}</span> entries ·{' '}
              {formatCount(load.skipped)} skipped · {formatMs(load.duration_ms)} · {formatAgo(load.at_ms, nowMs)}
            </span>
          )}
        </Descriptions.Item>
      </Descriptions>
      {last?.error != null && (
        <Alert type="error" showIcon title={`last snapshot failed: ${last.error}`} data-testid="warming-snapshot-error" />
      )}
      {load?.error != null && (
        <Alert type="warning" showIcon title={`start-up load: ${load.error}`} data-testid="warming-load-error" />
      )}
    </Card>
  );
}

function NodeWarmups({ list, nowMs }: { list: NodeWarmup[]; nowMs: number }) {
  return (
    <Card size="small" title="node warm-ups (hottest keys copied to a new or re-admitted node)">
      <Table<NodeWarmup>
        size="small"
        rowKey={(w) => `${w.node}:${w.started_at_ms}`}
        data-testid="warming-node-warmups"
        dataSource={orderedWarmups(list)}
        pagination={false}
        locale={{ emptyText: 'none: nodes are warmed when they join or return to a Redis fleet' }}
        columns={[
          { title: 'node', dataIndex: 'node', render: (node: string) => <code data-testid="warmup-node">{node}</code> },
          { title: 'why', dataIndex: 'reason', render: (r: string) => (r === 'readmitted' ? 're-admitted' : r) },
          {
            title: 'progress',
            key: 'progress',
            width: 260,
            render: (_: unknown, w: NodeWarmup) => {
              const p = warmupProgress(w);
              return (
                <Tooltip title={`${formatCount(w.copied)} copied, ${formatCount(w.skipped)} already there, of ${formatCount(w.total)}`}>
                  <Progress data-testid="warmup-progress" percent={p.percent} status={p.status} size="small" />
                </Tooltip>
              );
            },
          },
          {
            title: 'keys',
            key: 'keys',
            align: 'right',
            render: (_: unknown, w: NodeWarmup) => `${formatCount(w.copied + w.skipped)} / ${formatCount(w.total)}`,
          },
          { title: 'state', dataIndex: 'state' },
          {
            title: 'started',
            dataIndex: 'started_at_ms',
            render: (at: number, w: NodeWarmup) =>
              w.finished_at_ms === null
                ? formatAgo(at, nowMs)
                : `${formatAgo(at, nowMs)}, took ${formatMs(w.finished_at_ms - at)}`,
          },
        ]}
      />
    </Card>
  );
}
