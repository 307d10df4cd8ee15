// What a page fed by one polled endpoint shows around its answer, shared by
// the Regions page and the cache warming panel: the card before there is an
// answer (the endpoint missing on an older server, still loading, or failed
// with nothing to show yet) and the warning that the answer shown is stale.
import { Alert, Card, Empty } from 'antd';
import type { ReactElement } from 'react';

import type { ApiError } from '../api/rest';

/** A polled endpoint's state as the page's hook keeps it. */
export interface Polled<T> {
  answer: T | null;
  missing: boolean;
  error: ApiError | null;
}

/** How a page names itself: its card's title, the endpoint it polls, and
 * the test ids (`${testId}` for the card, `${prefix}-missing`, `-error`,
 * `-stale` for the states). */
export interface PolledNames {
  title: string;
  path: string;
  testId: string;
  prefix: string;
}

/** The card to show while there is no answer to draw; `null` once there is. */
export function pendingCard<T>(state: Polled<T>, names: PolledNames): ReactElement | null {
  const { title, path, testId, prefix } = names;
  if (state.missing) {
    return (
      <Card size="small" title={title} data-testid={testId}>
        <Empty description={`Not available in this version (${path} answers 404).`} data-testid={`${prefix}-missing`} />
      </Card>
    );
  }
  if (state.answer !== null) {
    return null;
  }
  const error = state.error;
  return error === null ? (
    <Card size="small" title={title} loading data-testid={testId} />
  ) : (
    <Card size="small" title={title} data-testid={testId}>
      <Alert type="error" showIcon title={`${error.code}: ${error.message}`} data-testid={`${prefix}-error`} />
    </Card>
  );
}

/** The warning above an answer the last poll could not refresh. */
export function StaleAlert({ error, prefix }: { error: ApiError | null; prefix: string }) {
  if (error === null) {
    return null;
  }
  return (
    <Alert
      type="warning"
      showIcon
      style={{ marginBottom: 12 }}
      title={`last refresh failed (${error.code}); showing the previous answer`}
      data-testid={`${prefix}-stale`}
    />
  );
}
