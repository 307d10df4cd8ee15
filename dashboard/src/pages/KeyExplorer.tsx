// Key explorer: get, set with TTL, delete and mget through the REST API, with
// the owning node and the TTL left; errors show the server's code and message.
// Set and delete are disabled, with the reason, for a role that may not write.
import { useState } from 'react';
import { Alert, Button, Card, Col, Descriptions, Input, InputNumber, Popconfirm, Row, Space, Table, Tag, Tooltip } from 'antd';

import { ApiError, deleteKey, getKey, mget, setKey } from '../api/rest';
import type { GetResponse, JsonValue, MgetResult } from '../api/types';
import { useRefusal } from '../data/session';
import { valueFromInput } from '../data/values';
import { formatTtl } from '../format';

function show(value: JsonValue | undefined): string {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

type Outcome =
  | { kind: 'entry'; entry: GetResponse }
  | { kind: 'message'; text: string }
  | { kind: 'mget'; results: MgetResult[] };

export function KeyExplorer() {
  const [key, setKeyText] = useState('');
  const [value, setValue] = useState('');
  const [ttl, setTtl] = useState<number | null>(null);
  const [keys, setKeys] = useState('');
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const cannotWrite = useRefusal('write');

  const run = (action: () => Promise<Outcome>) => {
    setBusy(true);
    setError(null);
    action()
      .then(setOutcome)
      .catch((e: unknown) => {
        setOutcome(null);
        setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
      })
      .finally(() => setBusy(false));
  };
  const noKey = key === '';

  return (
    <Row gutter={[16, 16]}>
      <Col xs={24} xl={12}>
        <Card size="small" title="one key">
          <Space orientation="vertical" style={{ width: '100%' }}>
            <Input placeholder="key" value={key} onChange={(e) => setKeyText(e.target.value)} data-testid="key-input" />
            <Input.TextArea
              placeholder='value: JSON such as {"name":"Ada"}, or plain text'
              autoSize={{ minRows: 3, maxRows: 10 }}
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
            <Space wrap>
              <InputNumber min={1} max={2_592_000} placeholder="TTL (s)" value={ttl} onChange={(v) => setTtl(v)} />
              <Button
                loading={busy}
                disabled={noKey}
                data-testid="get-button"
                onClick={() => run(async () => ({ kind: 'entry', entry: await getKey(key) }))}
              >
                Get
              </Button>
              <Tooltip title={cannotWrite}>
                <Button
                  type="primary"
                  loading={busy}
                  disabled={noKey || cannotWrite !== null}
                  data-testid="set-button"
                  onClick={() =>
                    run(async () => {
                      const stored = await setKey(key, valueFromInput(value), ttl);
                      return { kind: 'message', text: `stored on ${stored.node}, TTL ${formatTtl(stored.ttl)}` };
                    })
                  }
                >
                  Set
                </Button>
              </Tooltip>
              <Popconfirm
                title={`Delete ${key}?`}
                disabled={noKey || cannotWrite !== null}
                onConfirm={() =>
                  run(async () => {
                    const r = await deleteKey(key);
                    return { kind: 'message', text: r.deleted ? `deleted ${r.key}` : `${r.key} was absent` };
                  })
                }
              >
                <Tooltip title={cannotWrite}>
                  <Button danger disabled={noKey || cannotWrite !== null} data-testid="delete-button">
                    Delete
                  </Button>
                </Tooltip>
              </Popconfirm>
            </Space>
          </Space>
        </Card>
      </Col>
      <Col xs={24} xl={12}>
        <Card size="small" title="many keys (mget)">
          <Space orientation="vertical" style={{ width: '100%' }}>
            <Input.TextArea
              placeholder="one key per line"
              autoSize={{ minRows: 3, maxRows: 10 }}
              value={keys}
              onChange={(e) => setKeys(e.target.value)}
            />
            <Button
              loading={busy}
              onClick={() =>
                run(async () => {
                  const list = keys.split('\n').map((k) => k.trim()).filter((k) => k !== '');
                  return { kind: 'mget', results: (await mget(list)).results };
                })
              }
            >
              Get all
            </Button>
          </Space>
        </Card>
      </Col>
      <Col span={24}>
        {error !== null && (
          <Alert type="error" showIcon data-testid="key-error" title={error.code} description={error.message} />
        )}
        {outcome?.kind === 'message' && <Alert type="success" showIcon title={outcome.text} />}
        {outcome?.kind === 'entry' && (
          <Card size="small" data-testid="key-result">
            <Descriptions size="small" column={1} bordered>
              <Descriptions.Item label="key">{outcome.entry.key}</Descriptions.Item>
              <Descriptions.Item label="node">
                <Tag color="blue">{outcome.entry.node}</Tag>
              </Descriptions.Item>
              <Descriptions.Item label="TTL left">{formatTtl(outcome.entry.ttl)}</Descriptions.Item>
              <Descriptions.Item label="value">
                <pre style={{ margin: 0 }}>{show(outcome.entry.value)}</pre>
                {outcome.entry.encoding !== undefined && <Tag>{outcome.entry.encoding}</Tag>}
              </Descriptions.Item>
            </Descriptions>
          </Card>
        )}
        {outcome?.kind === 'mget' && (
          <Table<MgetResult>
            size="small"
            rowKey="key"
            dataSource={outcome.results}
            pagination={false}
            columns={[
              { title: 'key', dataIndex: 'key' },
              { title: 'hit', dataIndex: 'hit', render: (hit: boolean) => <Tag color={hit ? 'green' : 'default'}>{hit ? 'hit' : 'miss'}</Tag> },
              { title: 'node', dataIndex: 'node' },
              { title: 'TTL left', dataIndex: 'ttl', render: (t: number | null | undefined) => formatTtl(t) },
              { title: 'value', dataIndex: 'value', render: (v: JsonValue | undefined) => <code>{JSON.stringify(v)}</code> },
            ]}
          />
        )}
      </Col>
    </Row>
  );
}
