//! Who may call what over HTTP: one table from method and path to the role a
//! request needs ([`access`]), and [`admit`], which checks the caller's
//! credential against it for every route of the app — REST, `/ws/metrics`,
//! `/metrics`, probes — before any handler runs (`guard.rs` calls it).
//!
//! A credential is `Authorization: Bearer <token>` (the scheme in any case) or
//! the dashboard's `roost_token` cookie, set by `POST /api/auth/session`. No
//! credential answers 401; a wrong one, or one whose role is too low, 403.
//! With no credential configured everything is open, as before.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};

use super::{ApiError, SharedState};
use crate::auth::{Identity, Role};
use crate::telemetry::Throttled;

/// The dashboard's session cookie.
pub const COOKIE: &str = "roost_token";

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Always served: the dashboard's files (they hold no data) and signing in.
    Open,
    /// `/healthz`, `/readyz`: open when `ROOST_OPEN_ENDPOINTS` has `probes`.
    Probe,
    /// `/metrics`: open when it has `metrics`.
    Metrics,
    /// `/api/openapi.json`: open when it has `openapi`.
    OpenApi,
    /// `/api/geo/log`: another region's pull, checked by its handler
    /// against `ROOST_REGION_SECRET` and never against a client credential.
    RegionSecret,
    /// A credential with at least this role.
    Needs(Role),
}

/// The one table of what each route needs.
pub fn access(method: &Method, path: &str) -> Access {
    let read_only = matches!(*method, Method::GET | Method::HEAD);
    match path {
        "/healthz" | "/readyz" => Access::Probe,
        "/metrics" => Access::Metrics,
        "/api/openapi.json" => Access::OpenApi,
        "/api/auth/session" => Access::Open,
        "/api/geo/log" => Access::RegionSecret,
        "/api/cache/mget" => Access::Needs(Role::Read),
        "/api/cache/flush/all" => Access::Needs(Role::Admin),
        _ if path.starts_with("/api/cluster/") && !read_only => Access::Needs(Role::Admin),
        _ if path.starts_with("/api/") || path.starts_with("/ws/") => match read_only {
            true => Access::Needs(Role::Read),
            false => Access::Needs(Role::Write),
        },
        _ => Access::Open,
    }
}

/// Admits the request (its caller's identity goes into its extensions, for
/// handlers that show it) or answers 401/403. Synchronous: `guard.rs` calls it
/// before the request reaches the router.
pub fn admit(state: &SharedState, request: &mut Request) -> Result<(), ApiError> {
    let auth = state.auth.load();
    if !auth.is_enabled() {
        request.extensions_mut().insert(Identity::anonymous());
        return Ok(());
    }
    let needed = match access(request.method(), request.uri().path()) {
        Access::Open | Access::RegionSecret => None,
        Access::Probe if state.open.probes => None,
        Access::Metrics if state.open.metrics => None,
        Access::OpenApi if state.open.openapi => None,
        Access::Needs(role) => Some(role),
        Access::Probe | Access::Metrics | Access::OpenApi => Some(Role::Read),
    };
    let presented = credential(request.headers());
    let identity = presented.and_then(|secret| auth.by_secret(secret.as_bytes()));
    let refusal = match (needed, presented, identity) {
        (None, _, identity) => {
            if let Some(identity) = identity {
                request.extensions_mut().insert(identity);
            }
            return Ok(());
        }
        (Some(role), _, Some(identity)) if identity.role.allows(role) => {
            request.extensions_mut().insert(identity);
            return Ok(());
        }
        (Some(role), _, Some(identity)) => {
            refused(state, request, "role too low");
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "user {:?} has role {}; this needs {role}",
                    identity.user, identity.role
                ),
            )
        }
        (Some(_), None, None) => {
            refused(state, request, "no credential");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this endpoint needs a credential: Authorization: Bearer <token>",
            )
        }
        (Some(_), Some(_), None) => {
            refused(state, request, "unknown credential");
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the token is not valid")
        }
    };
    Err(refusal)
}

/// Counts and logs (at most once per interval) a refused request.
fn refused(state: &SharedState, request: &Request, why: &'static str) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(10));
    state.cache.metrics().doors().auth_failure("http").inc();
    if let Some(suppressed) = LOG.allow() {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            why,
            suppressed,
            "http request refused by authentication"
        );
    }
}

/// The secret a request presents: the bearer token, else the session cookie.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value).filter(|v| !v.is_empty())
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn every_route_needs_the_role_its_effect_needs() {
        let cases = [
            (Method::GET, "/api/cache/k", Access::Needs(Role::Read)),
            (Method::POST, "/api/cache/mget", Access::Needs(Role::Read)),
            (
                Method::GET,
                "/api/cache/stats/overview",
                Access::Needs(Role::Read),
            ),
            (Method::GET, "/ws/metrics", Access::Needs(Role::Read)),
            (Method::GET, "/api/cluster/nodes", Access::Needs(Role::Read)),
            (Method::GET, "/api/auth/whoami", Access::Needs(Role::Read)),
            (Method::POST, "/api/cache", Access::Needs(Role::Write)),
            (Method::POST, "/api/cache/mset", Access::Needs(Role::Write)),
            (Method::DELETE, "/api/cache/k", Access::Needs(Role::Write)),
            (
                Method::DELETE,
                "/api/cache/flush/all",
                Access::Needs(Role::Admin),
            ),
            (
                Method::POST,
                "/api/cluster/nodes",
                Access::Needs(Role::Admin),
            ),
            (
                Method::DELETE,
                "/api/cluster/nodes/a:1",
                Access::Needs(Role::Admin),
            ),
            (Method::GET, "/metrics", Access::Metrics),
            (Method::GET, "/readyz", Access::Probe),
            (Method::GET, "/api/openapi.json", Access::OpenApi),
            (Method::POST, "/api/auth/session", Access::Open),
            (Method::GET, "/api/geo/log", Access::RegionSecret),
            (Method::GET, "/api/regions", Access::Needs(Role::Read)),
            (Method::GET, "/", Access::Open),
            (Method::GET, "/assets/index.js", Access::Open),
        ];
        for (method, path, expected) in cases {
            assert_eq!(access(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn the_credential_is_a_bearer_token_in_any_case_or_the_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(credential(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; roost_token=c00kie"),
        );
        assert_eq!(credential(&headers), Some("c00kie"));
        for value in ["Bearer t0k", "bearer t0k", "BEARER  t0k "] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert_eq!(credential(&headers), Some("t0k"), "{value}");
        }
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        assert_eq!(
            credential(&headers),
            None,
            "another scheme is no credential"
        );
    }
}
