// Shows whether the live stream is connected, and when it retries.
import { useEffect, useState } from 'react';
import { Badge, Typography } from 'antd';

import type { ConnectionState } from '../api/connection';

const LOOK = {
  open: { status: 'success', text: 'live' },
  connecting: { status: 'processing', text: 'connecting…' },
  reconnecting: { status: 'warning', text: 'reconnecting' },
  stopped: { status: 'default', text: 'stopped' },
} as const;

/** Seconds left before `deadline`, re-rendered each second. */
function useCountdown(deadline: number | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (deadline === null) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [deadline]);
  return deadline === null ? null : Math.max(0, Math.ceil((deadline - now) / 1000));
}

export function ConnectionBadge({ connection }: { connection: ConnectionState }) {
  const left = useCountdown(connection.retryAt);
  const look = LOOK[connection.status];
  const detail =
    connection.status === 'reconnecting' && left !== null
      ? ` in ${left}s (attempt ${connection.attempt})`
      : '';
  return (
    <span data-testid="connection-status" data-status={connection.status}>
      <Badge status={look.status} />
      <Typography.Text style={{ color: '#fff', whiteSpace: 'nowrap' }}>
        {look.text}
        {detail}
      </Typography.Text>
    </span>
  );
}
