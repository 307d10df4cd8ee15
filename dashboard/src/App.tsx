// The shell: who is signed in decides the screen (sign-in, or the dashboard);
// the dashboard is a header with the connection state and the account, a menu
// of pages, and the page. The one metrics stream lives in the dashboard, so it
// opens only once signed in, and is shared by the pages that chart it.
import { useEffect, useState } from 'react';
import { Layout, Menu, Typography } from 'antd';

import type { Identity } from './api/types';
import { ConnectionBadge } from './components/ConnectionBadge';
import { SignedInAs } from './components/SignedInAs';
import { IdentityContext, useSession } from './data/session';
import { useMetricsStream } from './data/stream';
import { HotKeys } from './pages/HotKeys';
import { KeyExplorer } from './pages/KeyExplorer';
import { Nodes } from './pages/Nodes';
import { Overview } from './pages/Overview';
import { Reaching } from './pages/Reaching';
import { RegionsPage } from './pages/Regions';
import { SignIn } from './pages/SignIn';
import { WarmingPanel } from './pages/Warming';

const PAGES = [
  { key: 'overview', label: 'Overview' },
  { key: 'nodes', label: 'Nodes' },
  { key: 'keys', label: 'Key explorer' },
  { key: 'hot', label: 'Hot keys' },
  { key: 'warming', label: 'Warming' },
  { key: 'regions', label: 'Regions' },
] as const;

type PageKey = (typeof PAGES)[number]['key'];

/** Older links: `#/more` was the page that held warming and the regions placeholder. */
const RENAMED: Record<string, PageKey> = { more: 'warming' };

export function pageFromHash(hash: string): PageKey {
  const wanted = hash.replace(/^#\/?/, '');
  return PAGES.find((p) => p.key === wanted)?.key ?? RENAMED[wanted] ?? 'overview';
}

function useHashPage(): [PageKey, (page: PageKey) => void] {
  const [page, setPage] = useState<PageKey>(() => pageFromHash(window.location.hash));
  useEffect(() => {
    const onHash = () => setPage(pageFromHash(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return [page, (next) => (window.location.hash = `#/${next}`)];
}

export function App() {
  const { session, signIn, signOut, recheck } = useSession();
  switch (session.phase) {
    case 'checking':
      return <Reaching error={null} onRetry={recheck} />;
    case 'unreachable':
      return <Reaching error={session.error} onRetry={recheck} />;
    case 'signed-out':
      return <SignIn onSignIn={signIn} busy={session.busy} error={session.error} notice={session.notice} />;
    case 'signed-in':
      return (
        <IdentityContext value={session.identity}>
          <Dashboard identity={session.identity} onSignOut={signOut} onStreamTrouble={recheck} />
        </IdentityContext>
      );
  }
}

interface DashboardProps {
  identity: Identity;
  onSignOut: () => void;
  /** Called each time the stream has to reconnect: a refused socket looks like any other failure. */
  onStreamTrouble: () => void;
}

function Dashboard({ identity, onSignOut, onStreamTrouble }: DashboardProps) {
  const stream = useMetricsStream();
  const [page, go] = useHashPage();
  const { status, attempt } = stream.connection;
  useEffect(() => {
    if (status === 'reconnecting') onStreamTrouble();
  }, [status, attempt, onStreamTrouble]);
  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Header style={{ display: 'flex', alignItems: 'center', gap: 24 }}>
        <Typography.Title level={4} style={{ color: '#fff', margin: 0, whiteSpace: 'nowrap' }}>
          Roost
        </Typography.Title>
        <Menu
          theme="dark"
          mode="horizontal"
          selectedKeys={[page]}
          items={PAGES.map((p) => ({ key: p.key, label: p.label }))}
          onClick={({ key }) => go(pageFromHash(key))}
          style={{ flex: 1, minWidth: 0 }}
        />
        <ConnectionBadge connection={stream.connection} />
        {identity.auth && <SignedInAs identity={identity} onSignOut={onSignOut} />}
      </Layout.Header>
      <Layout.Content style={{ padding: 24 }}>
        {page === 'overview' && <Overview stream={stream} />}
        {page === 'nodes' && <Nodes latest={stream.latest} />}
        {page === 'keys' && <KeyExplorer />}
        {page === 'hot' && <HotKeys />}
        {page === 'warming' && <WarmingPanel />}
        {page === 'regions' && <RegionsPage events={stream.regionEvents} />}
      </Layout.Content>
    </Layout>
  );
}
