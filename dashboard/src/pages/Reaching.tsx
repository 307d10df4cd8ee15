// Shown before the dashboard knows who this browser is: a spinner while the
// first whoami is on its way, or why it could not reach Roost while it retries.
import { Button, Layout, Result, Spin } from 'antd';

import type { ApiError } from '../api/rest';

export function Reaching({ error, onRetry }: { error: ApiError | null; onRetry: () => void }) {
  return (
    <Layout style={{ minHeight: '100vh', alignItems: 'center', justifyContent: 'center' }}>
      {error === null ? (
        <Spin delay={300} size="large" data-testid="reaching" />
      ) : (
        <Result
          status="warning"
          title="Cannot reach Roost"
          subTitle={`${error.message}. Retrying by itself…`}
          extra={
            <Button type="primary" onClick={onRetry}>
              Retry now
            </Button>
          }
          data-testid="unreachable"
        />
      )}
    </Layout>
  );
}
