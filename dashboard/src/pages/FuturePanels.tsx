// Warming and regions. Warming is a live panel (pages/Warming.tsx); regions
// probes its API and shows the data once the server has it, or says it is not
// in this version (404).
import { useEffect, useState } from 'react';
import { Alert, Card, Col, Empty, Row } from 'antd';

import { probe, type Probe } from '../api/rest';
import { WarmingPanel } from './Warming';

const PANELS = [{ title: 'regions', path: '/api/regions' }] as const;

function Panel({ title, path }: { title: string; path: string }) {
  const [result, setResult] = useState<Probe<unknown> | null>(null);
  useEffect(() => {
    let live = true;
    void probe<unknown>(path).then((r) => live && setResult(r));
    return () => {
      live = false;
    };
  }, [path]);
  return (
    <Card size="small" title={title} loading={result === null} data-testid={`panel-${path}`}>
      {result?.state === 'missing' && (
        <Empty description={`Not available in this version (${path} answers 404).`} />
      )}
      {result?.state === 'error' && <Alert type="error" showIcon title={`${result.error.code}: ${result.error.message}`} />}
      {result?.state === 'available' && (
        <pre style={{ maxHeight: 320, overflow: 'auto', margin: 0 }}>{JSON.stringify(result.data, null, 2)}</pre>
      )}
    </Card>
  );
}

export function FuturePanels() {
  return (
    <Row gutter={[16, 16]}>
      <Col span={24}>
        <WarmingPanel />
      </Col>
      {PANELS.map((p) => (
        <Col key={p.path} xs={24} xl={12}>
          <Panel title={p.title} path={p.path} />
        </Col>
      ))}
    </Row>
  );
}
