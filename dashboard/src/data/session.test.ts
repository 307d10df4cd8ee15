import { describe, expect, it } from 'vitest';

import { ApiError } from '../api/rest';
import type { Identity } from '../api/types';
import {
  AUTH_OFF,
  initialSession,
  SESSION_ENDED,
  sessionReducer,
  signInMessage,
  type Session,
  type SessionAction,
} from './session';

const viewer: Identity = { user: 'viewer', role: 'read', auth: true };
const unauthorized = new ApiError(401, 'unauthorized', 'this endpoint needs a credential');
const forbidden = new ApiError(403, 'forbidden', 'the token is not valid');
const unreachable = new ApiError(0, 'unreachable', 'cannot reach Roost: TypeError: Failed to fetch');

function run(...actions: SessionAction[]): Session {
  return actions.reduce(sessionReducer, initialSession);
}

const signedOut: Session = { phase: 'signed-out', notice: null, error: null, busy: false };
const signedIn: Session = { phase: 'signed-in', identity: viewer };

describe('sessionReducer at load', () => {
  it('goes straight in when whoami answers, with authentication on or off', () => {
    expect(run({ type: 'checked', identity: viewer })).toEqual(signedIn);
    expect(run({ type: 'checked', identity: AUTH_OFF })).toEqual({ phase: 'signed-in', identity: AUTH_OFF });
  });

  it('shows the sign-in screen, quietly, on 401', () => {
    expect(run({ type: 'check-failed', error: unauthorized })).toEqual(signedOut);
  });

  it('says the session ended when the saved cookie is refused (403)', () => {
    expect(run({ type: 'check-failed', error: forbidden })).toEqual({ ...signedOut, notice: SESSION_ENDED });
  });

  it('treats a server without whoami (404) as one without authentication', () => {
    const missing = new ApiError(404, 'no_route', 'no route');
    expect(run({ type: 'check-failed', error: missing })).toEqual({ phase: 'signed-in', identity: AUTH_OFF });
  });

  it('counts failed checks while the server is unreachable, then gets in', () => {
    const twice = run({ type: 'check-failed', error: unreachable }, { type: 'check-failed', error: unreachable });
    expect(twice).toEqual({ phase: 'unreachable', error: unreachable, attempt: 2 });
    expect(sessionReducer(twice, { type: 'checked', identity: viewer })).toEqual(signedIn);
    expect(sessionReducer(twice, { type: 'check-failed', error: unauthorized })).toEqual(signedOut);
  });
});

describe('sessionReducer signing in and out', () => {
  const out = run({ type: 'check-failed', error: unauthorized });

  it('is busy while signing in, then shows the dashboard', () => {
    const busy = sessionReducer(out, { type: 'signing-in' });
    expect(busy).toEqual({ ...signedOut, busy: true });
    expect(sessionReducer(busy, { type: 'signed-in', identity: viewer })).toEqual(signedIn);
  });

  it('says a refused token is not valid, and clears that on the next try', () => {
    const failed = sessionReducer(sessionReducer(out, { type: 'signing-in' }), { type: 'sign-in-failed', error: forbidden });
    expect(failed).toEqual({ ...signedOut, error: 'That token is not valid.' });
    expect(sessionReducer(failed, { type: 'signing-in' })).toEqual({ ...signedOut, busy: true });
  });

  it('signs out, and says so when the server did not confirm', () => {
    expect(sessionReducer(signedIn, { type: 'signed-out', error: null })).toEqual(signedOut);
    const notConfirmed = sessionReducer(signedIn, { type: 'signed-out', error: unreachable });
    expect(notConfirmed.phase).toBe('signed-out');
    expect(notConfirmed.phase === 'signed-out' && notConfirmed.notice).toMatch(/did not confirm/);
  });

  it('ignores a late whoami answer after signing out', () => {
    expect(sessionReducer(out, { type: 'checked', identity: viewer })).toBe(out);
    expect(sessionReducer(out, { type: 'check-failed', error: unreachable })).toBe(out);
  });
});

describe('sessionReducer when the server stops accepting the session', () => {
  it('returns to sign-in when a data call answers 401', () => {
    expect(sessionReducer(signedIn, { type: 'refused', error: unauthorized })).toEqual({
      ...signedOut,
      notice: SESSION_ENDED,
    });
  });

  it('stays signed in on a 403 until whoami says the token is gone', () => {
    expect(sessionReducer(signedIn, { type: 'refused', error: forbidden })).toBe(signedIn);
    expect(sessionReducer(signedIn, { type: 'checked', identity: viewer })).toEqual(signedIn);
    expect(sessionReducer(signedIn, { type: 'check-failed', error: forbidden })).toEqual({
      ...signedOut,
      notice: SESSION_ENDED,
    });
    expect(sessionReducer(signedIn, { type: 'check-failed', error: unauthorized }).phase).toBe('signed-out');
  });

  it('stays signed in while only the network fails', () => {
    expect(sessionReducer(signedIn, { type: 'check-failed', error: unreachable })).toBe(signedIn);
  });
});

describe('signInMessage', () => {
  it('is plain about a wrong token and specific otherwise', () => {
    expect(signInMessage(forbidden)).toBe('That token is not valid.');
    expect(signInMessage(unreachable)).toBe(unreachable.message);
    expect(signInMessage(new ApiError(400, 'invalid_token', 'the token cannot be kept in a cookie'))).toBe(
      'invalid_token: the token cannot be kept in a cookie',
    );
  });
});
