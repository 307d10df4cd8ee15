// The sign-in screen, shown when the server has credentials configured and this
// browser has none: a token in, the server keeps it in an HttpOnly cookie.
import { Alert, Button, Card, Form, Input, Layout, Space, Typography } from 'antd';

interface SignInProps {
  onSignIn: (token: string) => void;
  busy: boolean;
  /** Why signing in failed. */
  error: string | null;
  /** Why this screen came back, e.g. a session that ended. */
  notice: string | null;
}

export function SignIn({ onSignIn, busy, error, notice }: SignInProps) {
  return (
    <Layout style={{ minHeight: '100vh', alignItems: 'center', justifyContent: 'center', padding: 24 }}>
      <Card style={{ width: '100%', maxWidth: 420 }} data-testid="sign-in">
        <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
          <div>
            <Typography.Title level={3} style={{ margin: 0 }}>
              Roost
            </Typography.Title>
            <Typography.Text type="secondary">
              This server needs a credential. Sign in with your API token.
            </Typography.Text>
          </div>
          {notice !== null && <Alert type="warning" showIcon title={notice} data-testid="sign-in-notice" />}
          <Form<{ token: string }>
            layout="vertical"
            requiredMark={false}
            onFinish={({ token }) => onSignIn(token.trim())}
            disabled={busy}
          >
            <Form.Item
              label="Token"
              name="token"
              rules={[{ required: true, whitespace: true, message: 'Enter your token' }]}
            >
              <Input.Password autoFocus autoComplete="current-password" data-testid="token-input" />
            </Form.Item>
            {error !== null && (
              <Form.Item>
                <Alert type="error" showIcon title={error} data-testid="sign-in-error" />
              </Form.Item>
            )}
            <Button type="primary" htmlType="submit" block loading={busy} data-testid="sign-in-button">
              Sign in
            </Button>
          </Form>
        </Space>
      </Card>
    </Layout>
  );
}
