// The Regions page: this region (name, mode, its clock and change log), each
// link to a peer region (state, lag in changes and in ms, last applied version,
// apply rate, conflicts, resyncs, refused changes), five minutes of lag and
// staleness, and the `region` events. GET /api/regions once a second
// (data/regions.ts). `RegionsView` draws one state and holds no transport
// logic, so it is tested by rendering it.
import { Card, Col, Empty, Row, Space, Statistic, Table, Tag, Tooltip, Typography } from 'antd';

import type { RegionPeer, RegionsEnabled, RoostEvent } from '../api/types';
import { pendingCard, StaleAlert } from '../components/PolledCard';
import { TimeChart, type ChartLine } from '../components/TimeChart';
import {
  isRegion,
  LINK_STATE_COLOURS,
  linksUp,
  orderedPeers,
  peerColour,
  peerKey,
  useRegions,
  type ChartRow,
  type RegionsState,
  versionTime,
} from '../data/regions';
import { formatAgo, formatBytes, formatClock, formatCount, formatMs, formatOps } from '../format';

const TITLE = 'regions';
const NAMES = { title: TITLE, path: '/api/regions', testId: 'regions-page', prefix: 'regions' };

export function RegionsPage({ events }: { events: RoostEvent[] }) {
  return <RegionsView state={useRegions()} events={events} />;
}

export function RegionsView({ state, events }: { state: RegionsState; events: RoostEvent[] }) {
  const pending = pendingCard(state, NAMES);
  const { answer, error } = state;
  if (pending !== null || answer === null) {
    return pending;
  }
  const stale = <StaleAlert error={error} prefix="regions" />;
  if (!isRegion(answer)) {
    return (
      <Card size="small" title={TITLE} data-testid="regions-page" extra={<Tag data-testid="regions-state">single region</Tag>}>
        {stale}
        <SingleRegion />
      </Card>
    );
  }
  const links = linksUp(answer.peers);
  return (
    <Card
      size="small"
      title={TITLE}
      data-testid="regions-page"
      extra={
        <Space>
          <Tag color="blue" data-testid="regions-region">
            {answer.region}
          </Tag>
          <Tag data-testid="regions-mode">{answer.mode}</Tag>
          <Tag color={links.up === links.total ? 'success' : 'warning'} data-testid="regions-links-up">
            {links.up} / {links.total} links up
          </Tag>
        </Space>
      }
    >
      {stale}
      <Region answer={answer} state={state} events={events} />
    </Card>
  );
}

const EXAMPLE = `# in region "us" (and likewise in every other region)
ROOST_REGION=us
ROOST_REGION_PEERS=eu=http://roost.eu.internal:8000,ap=http://roost.ap.internal:8000
ROOST_REGION_SECRET=<the same secret in every region, 16+ characters>
ROOST_DATA_DIR=/var/lib/roost            # the change log the peers read
ROOST_GEO_MODE=invalidate                # or replicate`;

function SingleRegion() {
  return (
    <div data-testid="regions-single">
      <Empty
        description={
          <>
            This Roost runs a single region: <code>ROOST_REGION</code> is not set, so nothing is versioned, logged
            or sent to other regions.
          </>
        }
      />
      <Typography.Paragraph style={{ marginTop: 16 }}>
        To keep the caches of several regions coherent, run a Roost in each region with the embedded store and give
        each one its name, the HTTP address of a Roost in every other region, a shared secret and a data directory.
        Writes and deletes in one region then reach the others (invalidated or replicated) within the link's delay;
        docs/regions.md has the promise and every setting.
      </Typography.Paragraph>
      <pre data-testid="regions-example" style={{ background: '#f5f5f5', padding: 12, borderRadius: 6, margin: 0 }}>
        {EXAMPLE}
      </pre>
    </div>
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

function Region({ answer, state, events }: { answer: RegionsEnabled; state: RegionsState; events: RoostEvent[] }) {
  const { log, peers } = answer;
  const lagLines: ChartLine<ChartRow>[] = peers.map((p, i) => ({ key: peerKey(p.name), name: p.name, colour: peerColour(i) }));
  const fromHistogram = state.stalenessSource === 'histogram';
  const stalenessLines: ChartLine<ChartRow>[] = fromHistogram
    ? [
        { key: 'p50', name: 'p50', colour: '#13c2c2' },
        { key: 'p99', name: 'p99', colour: '#f5222d' },
      ]
    : lagLines;
  const applying = peers.reduce((sum, p) => sum + (Number.isFinite(p.apply_rate) ? p.apply_rate : 0), 0);
  const worst = peers.reduce((max, p) => Math.max(max, p.lag_ms), 0);
  return (
    <Row gutter={[16, 16]}>
      <Col xs={12} lg={6}>
        <Figure id="regions-applying" title="changes applied/s" value={formatOps(applying)} hint="from every peer" />
      </Col>
      <Col xs={12} lg={6}>
        <Figure
          id="regions-worst-lag"
          title="worst lag"
          value={peers.length === 0 ? '—' : formatMs(worst)}
          hint={peers.length === 0 ? 'no peers configured' : 'behind the slowest peer'}
        />
      </Col>
      <Col xs={12} lg={6}>
        <Figure
          id="regions-log"
          title="change log"
          value={formatBytes(log.bytes)}
          hint={`${formatCount(log.segments)} segments · changes ${formatCount(log.first)} to ${formatCount(log.last)}`}
        />
      </Col>
      <Col xs={12} lg={6}>
        <Card size="small">
          <div data-testid="regions-clock">
            <Statistic title="clock (HLC)" value={clockOf(answer.version)} />
          </div>
          <Typography.Text type="secondary">
            version <code data-testid="regions-version">{answer.version}</code>
          </Typography.Text>
        </Card>
      </Col>
      <Col span={24}>
        <Links peers={peers} nowMs={state.atMs} />
      </Col>
      <Col xs={24} xl={12}>
        <Card size="small" title="lag behind each peer (ms)">
          <TimeChart data={state.lag} lines={lagLines} format={formatMs} />
        </Card>
      </Col>
      <Col xs={24} xl={12}>
        <Card
          size="small"
          title="staleness of applied changes (ms)"
          extra={
            <Typography.Text type="secondary" data-testid="regions-staleness-source">
              {fromHistogram
                ? 'p50 / p99 each second, roost_geo_staleness_seconds'
                : 'each peer’s lag_ms (no staleness histogram in /metrics)'}
            </Typography.Text>
          }
        >
          <TimeChart data={state.staleness} lines={stalenessLines} format={formatMs} />
        </Card>
      </Col>
      <Col span={24}>
        <RegionEvents events={events} />
      </Col>
    </Row>
  );
}

/** An HLC version's physical time, UTC, to the millisecond. */
function clockOf(version: string): string {
  const ms = versionTime(version);
  return ms === null ? '—' : new Date(ms).toISOString().slice(11, 23);
}

function Links({ peers, nowMs }: { peers: RegionPeer[]; nowMs: number }) {
  return (
    <Card size="small" title="links (this region pulls each peer's change log)">
      <Table<RegionPeer>
        size="small"
        rowKey="name"
        data-testid="regions-peers"
        dataSource={orderedPeers(peers)}
        pagination={false}
        scroll={{ x: true }}
        locale={{ emptyText: 'no peers: ROOST_REGION_PEERS is empty' }}
        columns={[
          {
            title: 'peer',
            dataIndex: 'name',
            render: (name: string, p: RegionPeer) => (
              <Tooltip title={p.url}>
                <code data-testid="region-peer-name">{name}</code>
              </Tooltip>
            ),
          },
          {
            title: 'link',
            dataIndex: 'state',
            render: (s: RegionPeer['state'], p: RegionPeer) => (
              <Space orientation="vertical" size={0}>
                <Tag color={LINK_STATE_COLOURS[s]} data-testid="region-peer-state" data-state={s}>
                  {s}
                </Tag>
                {s === 'up' && p.connected_since_ms !== null && (
                  <Typography.Text type="secondary">{formatAgo(p.connected_since_ms, nowMs)}</Typography.Text>
                )}
              </Space>
            ),
          },
          {
            title: 'lag',
            key: 'lag',
            align: 'right',
            render: (_: unknown, p: RegionPeer) => (
              <span data-testid="region-peer-lag">
                {formatCount(p.lag_changes)} changes · {formatMs(p.lag_ms)}
              </span>
            ),
          },
          {
            title: 'last applied version',
            dataIndex: 'last_applied_version',
            render: (v: string) => (
              <Tooltip title={`stamped ${clockOf(v)} UTC`}>
                <code data-testid="region-peer-version">{v}</code>
              </Tooltip>
            ),
          },
          {
            title: 'applied/s',
            dataIndex: 'apply_rate',
            align: 'right',
            render: (r: number, p: RegionPeer) => (
              <Tooltip title={`${formatCount(p.applied_total)} applied in all`}>
                <span data-testid="region-peer-rate">{formatOps(r)}</span>
              </Tooltip>
            ),
          },
          {
            title: 'conflicts',
            dataIndex: 'conflicts_total',
            align: 'right',
            render: (n: number) => <span data-testid="region-peer-conflicts">{formatCount(n)}</span>,
          },
          {
            title: 'resyncs',
            dataIndex: 'resyncs_total',
            align: 'right',
            render: (n: number) => (
              <Typography.Text type={n > 0 ? 'warning' : undefined} data-testid="region-peer-resyncs">
                {formatCount(n)}
              </Typography.Text>
            ),
          },
          {
            title: 'refused',
            dataIndex: 'refused_total',
            align: 'right',
            render: (n: number) => (
              <Typography.Text type={n > 0 ? 'danger' : undefined} data-testid="region-peer-refused">
                {formatCount(n)}
              </Typography.Text>
            ),
          },
          {
            title: 'last error',
            dataIndex: 'last_error',
            render: (e: string | null) =>
              e === null ? '—' : <Typography.Text type="danger" data-testid="region-peer-error">{e}</Typography.Text>,
          },
        ]}
      />
    </Card>
  );
}

function RegionEvents({ events }: { events: RoostEvent[] }) {
  return (
    <Card size="small" title="region events (links up and down, resyncs, refused changes)">
      <Table<RoostEvent>
        size="small"
        showHeader={false}
        data-testid="region-events"
        rowKey={(e) => `${e.seq}@${e.at_ms}`}
        dataSource={[...events].reverse()}
        pagination={false}
        locale={{ emptyText: 'no region events since this page opened' }}
        columns={[
          {
            title: 'at',
            dataIndex: 'at_ms',
            width: 100,
            render: (at: number) => <Typography.Text type="secondary">{formatClock(at)}</Typography.Text>,
          },
          { title: 'event', dataIndex: 'message', render: (m: string) => <span data-testid="region-event">{m}</span> },
        ]}
      />
    </Card>
  );
}
