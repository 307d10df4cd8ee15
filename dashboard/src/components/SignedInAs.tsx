// The header's account corner: who is signed in, with which role, and signing out.
import { Button, Space, Tag, Typography } from 'antd';

import type { Identity } from '../api/types';

const ROLE_COLOURS = { read: 'blue', write: 'gold', admin: 'red' } as const;

export function SignedInAs({ identity, onSignOut }: { identity: Identity; onSignOut: () => void }) {
  return (
    <Space size="small" style={{ whiteSpace: 'nowrap' }}>
      <Typography.Text style={{ color: '#fff' }} data-testid="signed-in-user">
        {identity.user}
      </Typography.Text>
      <Tag color={ROLE_COLOURS[identity.role]} data-testid="signed-in-role" style={{ marginInlineEnd: 0 }}>
        {identity.role}
      </Tag>
      <Button size="small" ghost onClick={onSignOut} data-testid="sign-out-button">
        Sign out
      </Button>
    </Space>
  );
}
