// Who is signed in, and so which screen the dashboard shows: a pure reducer
// (tested) over what `/api/auth/…` and refused data calls answer, behind a
// React hook that makes those calls.
//
//   checking, unreachable  whoami ok ─▶ signed-in; 401/403 ─▶ signed-out;
//                          404 (no auth API) ─▶ signed-in without auth;
//                          anything else ─▶ unreachable, whoami again with backoff
//   signed-out             sign-in ok ─▶ signed-in; sign-in refused ─▶ stays, saying why
//   signed-in              sign out, a data call's 401, or whoami 401/403 (asked
//                          after a 403 or a dropped stream) ─▶ signed-out
//
// With authentication off whoami answers `auth: false` and the dashboard goes
// straight to signed-in, as it did before the server had credentials.
import { createContext, useCallback, useContext, useEffect, useReducer } from 'react';

import { reconnectDelay } from '../api/backoff';
import { ApiError, onRefused, signIn, signOut, whoami } from '../api/rest';
import type { Identity, Role } from '../api/types';
import { refusal } from './roles';

export type Session =
  /** The first whoami is on its way. */
  | { phase: 'checking' }
  /** whoami failed for another reason than the credential; it is retried. */
  | { phase: 'unreachable'; error: ApiError; attempt: number }
  /** The sign-in screen. `notice` says why it came back; `error` why signing in failed. */
  | { phase: 'signed-out'; notice: string | null; error: string | null; busy: boolean }
  | { phase: 'signed-in'; identity: Identity };

export type SessionAction =
  /** whoami answered. */
  | { type: 'checked'; identity: Identity }
  /** whoami failed. */
  | { type: 'check-failed'; error: ApiError }
  | { type: 'signing-in' }
  | { type: 'signed-in'; identity: Identity }
  | { type: 'sign-in-failed'; error: ApiError }
  /** The session is gone; `error` when the server did not confirm clearing it. */
  | { type: 'signed-out'; error: ApiError | null }
  /** A data call answered 401: the credential is gone. */
  | { type: 'refused'; error: ApiError };

export const initialSession: Session = { phase: 'checking' };

/** What a server from before authentication is: open to everyone. */
export const AUTH_OFF: Identity = { user: 'default', role: 'admin', auth: false };

export const SESSION_ENDED = 'Your session ended: the server no longer accepts its token. Sign in again.';

/** 401 (no credential) or 403 (an unknown one): whoami needs only the read role. */
export function refusesCredential(error: ApiError): boolean {
  return error.status === 401 || error.status === 403;
}

/** What the sign-in screen says when signing in failed. */
export function signInMessage(error: ApiError): string {
  if (error.status === 403) return 'That token is not valid.';
  if (error.status === 0) return error.message;
  return `${error.code}: ${error.message}`;
}

const signedOut = (notice: string | null): Session => ({ phase: 'signed-out', notice, error: null, busy: false });

export function sessionReducer(state: Session, action: SessionAction): Session {
  switch (action.type) {
    case 'checked':
      // A late answer must not undo signing out.
      return state.phase === 'signed-out' ? state : { phase: 'signed-in', identity: action.identity };
    case 'check-failed': {
      const { error } = action;
      if (state.phase === 'signed-out') return state;
      if (refusesCredential(error)) {
        // 401 before ever getting in: simply not signed in. 403, or either once
        // signed in: a token that stopped working.
        const quiet = state.phase !== 'signed-in' && error.status === 401;
        return signedOut(quiet ? null : SESSION_ENDED);
      }
      if (state.phase === 'signed-in') return state; // the stream's badge shows the trouble
      if (error.status === 404) return { phase: 'signed-in', identity: AUTH_OFF };
      return { phase: 'unreachable', error, attempt: state.phase === 'unreachable' ? state.attempt + 1 : 1 };
    }
    case 'signing-in':
      return state.phase === 'signed-out' ? { ...state, notice: null, error: null, busy: true } : state;
    case 'signed-in':
      return { phase: 'signed-in', identity: action.identity };
    case 'sign-in-failed':
      return state.phase === 'signed-out' ? { ...state, busy: false, error: signInMessage(action.error) } : state;
    case 'signed-out':
      return signedOut(
        action.error === null
          ? null
          : `The server did not confirm signing out (${action.error.message}); it may still accept this browser's session.`,
      );
    case 'refused':
      return state.phase === 'signed-in' && action.error.status === 401 ? signedOut(SESSION_ENDED) : state;
  }
}

function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
}

export interface SessionControls {
  session: Session;
  signIn: (token: string) => void;
  signOut: () => void;
  /** Asks whoami again, e.g. when the stream was refused; a 401 or 403 signs out. */
  recheck: () => void;
}

/** The session for the life of the app: whoami at load, then sign-in and sign-out. */
export function useSession(): SessionControls {
  const [session, dispatch] = useReducer(sessionReducer, initialSession);

  const recheck = useCallback(() => {
    whoami().then(
      (identity) => dispatch({ type: 'checked', identity }),
      (e: unknown) => dispatch({ type: 'check-failed', error: asApiError(e) }),
    );
  }, []);

  useEffect(recheck, [recheck]);

  const retryAttempt = session.phase === 'unreachable' ? session.attempt : 0;
  useEffect(() => {
    if (retryAttempt === 0) return;
    const timer = window.setTimeout(recheck, reconnectDelay(retryAttempt - 1));
    return () => window.clearTimeout(timer);
  }, [retryAttempt, recheck]);

  // 401: the credential is gone. 403: a token no longer valid, or only a role
  // too low for that call; whoami tells which.
  useEffect(
    () => onRefused((error) => (error.status === 401 ? dispatch({ type: 'refused', error }) : recheck())),
    [recheck],
  );

  const doSignIn = useCallback((token: string) => {
    dispatch({ type: 'signing-in' });
    signIn(token).then(
      (identity) => dispatch({ type: 'signed-in', identity }),
      (e: unknown) => dispatch({ type: 'sign-in-failed', error: asApiError(e) }),
    );
  }, []);

  const doSignOut = useCallback(() => {
    signOut().then(
      () => dispatch({ type: 'signed-out', error: null }),
      (e: unknown) => dispatch({ type: 'signed-out', error: asApiError(e) }),
    );
  }, []);

  return { session, signIn: doSignIn, signOut: doSignOut, recheck };
}

/** The signed-in identity, for screens that adapt to the role. */
export const IdentityContext = createContext<Identity>(AUTH_OFF);

/** Why the signed-in user may not do what needs `needed`, or null when they may. */
export function useRefusal(needed: Role): string | null {
  return refusal(useContext(IdentityContext), needed);
}
