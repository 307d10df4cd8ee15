// Where the server is: the page's own origin. Roost serves the dashboard on the
// API port and on ROOST_DASHBOARD_ADDR with the same routes, and `npm run dev`
// proxies them, so relative paths always reach the API.

export function metricsSocketUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/metrics`;
}
