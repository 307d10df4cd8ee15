import { afterEach, describe, expect, it, vi } from 'vitest';

import { ApiError, getKey, onRefused, signIn, signOut, whoami } from './rest';

/** Answers every fetch with `status` and `body`, recording the requests. */
function serve(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  vi.stubGlobal('fetch', (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    return Promise.resolve(new Response(JSON.stringify(body), { status }));
  });
  return calls;
}

const refusedBody = { error: { code: 'unauthorized', message: 'this endpoint needs a credential' } };

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('auth calls', () => {
  it('whoami returns the identity', async () => {
    serve(200, { user: 'viewer', role: 'read', auth: true });
    await expect(whoami()).resolves.toEqual({ user: 'viewer', role: 'read', auth: true });
  });

  it('whoami rejects an answer that is not an identity', async () => {
    serve(200, { user: 'viewer', role: 'root', auth: true });
    await expect(whoami()).rejects.toMatchObject({ code: 'bad_reply' });
  });

  it('signIn posts the token and keeps the server error on 403', async () => {
    const calls = serve(403, { error: { code: 'forbidden', message: 'the token is not valid' } });
    const failure = signIn('nope');
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    expect(calls[0]?.url).toBe('/api/auth/session');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(calls[0]?.init?.body).toBe(JSON.stringify({ token: 'nope' }));
  });

  it('signOut deletes the session', async () => {
    const calls = serve(200, { signed_out: true });
    await expect(signOut()).resolves.toEqual({ signed_out: true });
    expect(calls[0]?.init?.method).toBe('DELETE');
  });
});

describe('onRefused', () => {
  it('hears refused data calls but not the auth calls, until unsubscribed', async () => {
    const heard: number[] = [];
    const stop = onRefused((e) => heard.push(e.status));
    serve(401, refusedBody);
    await expect(getKey('k')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(whoami()).rejects.toMatchObject({ status: 401 });
    serve(404, { error: { code: 'not_found', message: 'no key' } });
    await expect(getKey('k')).rejects.toMatchObject({ status: 404 });
    expect(heard).toEqual([401]);
    stop();
    serve(401, refusedBody);
    await expect(getKey('k')).rejects.toMatchObject({ status: 401 });
    expect(heard).toEqual([401]);
  });
});
