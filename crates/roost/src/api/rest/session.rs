//! Signing the dashboard in: a browser cannot put a bearer token on a page
//! load or a WebSocket, so `POST /api/auth/session` checks a token and sets it
//! as an `HttpOnly`, `SameSite=Strict` cookie that [`super::access`] accepts
//! like the header (`Secure` too when the listener speaks TLS). `DELETE`
//! clears it; `GET /api/auth/whoami` says who the caller is.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::access::COOKIE;
use super::{ApiError, SharedState};
use crate::auth::Identity;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    token: String,
}

pub async fn sign_in(
    State(state): State<SharedState>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(SignIn { token }) = body?;
    let auth = state.auth.load();
    if !auth.is_enabled() {
        return Ok(Json(whoami_body(&Identity::anonymous(), false)).into_response());
    }
    let Some(identity) = auth.by_secret(token.as_bytes()) else {
        state.cache.metrics().doors().auth_failure("http").inc();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the token is not valid",
        ));
    };
    // RFC 6265's cookie-octet: printable ASCII but for `"` `,` `;` `\`.
    if !token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"\",;\\".contains(&b))
    {
        return Err(ApiError::bad_request(
            "invalid_token",
            "this token cannot be kept in a cookie; send it as a bearer token instead",
        ));
    }
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = Json(whoami_body(&identity, true)).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| {
        ApiError::bad_request("invalid_token", "the token cannot be kept in a cookie")
    })?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

pub async fn sign_out(State(state): State<SharedState>) -> Response {
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    let mut response = Json(json!({ "signed_out": true })).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn whoami(
    State(state): State<SharedState>,
    Extension(identity): Extension<Identity>,
) -> Response {
    let enabled = state.auth.load().is_enabled();
    Json(whoami_body(&identity, enabled)).into_response()
}

fn whoami_body(identity: &Identity, auth: bool) -> serde_json::Value {
    json!({ "user": &*identity.user, "role": identity.role.as_str(), "auth": auth })
}
