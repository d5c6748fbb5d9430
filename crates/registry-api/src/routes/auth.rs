//! Browser sign-in with GitHub (`auth/github/start`, `auth/github/callback`), the session
//! (`auth/session`) and `auth/logout`, as upstream's registry answers them.
//!
//! The OAuth state is a random value in an HttpOnly cookie scoped to `auth/github`, compared in
//! constant time with the `state` GitHub sends back. The session cookie carries
//! `anip_sid_<id>_<secret>`; only the secret's SHA-256 is stored. Neither the code, the access
//! token, the client secret nor the session secret is ever logged or put in a response body.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use signing::{constant_time_eq, Secret};

use super::users::private;
use crate::app::AppState;
use crate::auth::{self, SESSION_COOKIE, SESSION_REQUIRED, SESSION_TOKEN_PREFIX, SESSION_TTL};
use crate::error::ApiError;
use crate::http as h;
use crate::store::sessions::LoginOutcome;

const STATE_COOKIE: &str = "anip_registry_oauth_state";
const RETURN_TO_COOKIE: &str = "anip_registry_oauth_return_to";
const OAUTH_COOKIE_PATH: &str = "/registry-api/v1/auth/github";
/// Where the browser lands after signing in, unless `return_to` asked for another page.
/// Upstream lands on its publisher console (`/registry/publisher`); our browse UI has no such
/// page yet, so the sign-in lands on the registry's front page.
const DEFAULT_RETURN_TO: &str = "/registry";
/// How long a sign-in may take between `start` and `callback`.
const STATE_MAX_AGE: u64 = 600;

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure when `secure`.
/// A `max_age` of 0 or less deletes the cookie.
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let mut cookie = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax",
        max_age.max(0)
    );
    if max_age <= 0 {
        cookie.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Whether cookies of this request get `Secure`: configured, an https public base URL, or a
/// request that arrived over https.
fn secure(req: &HttpRequest, state: &AppState) -> bool {
    state.sessions.cookie_secure || req.connection_info().scheme() == "https"
}

/// The callback URL GitHub redirects to: under the public base URL when one is configured
/// (set it in production: it is what the OAuth app registers), else the request's own origin.
fn redirect_uri(req: &HttpRequest, state: &AppState) -> String {
    let base = match &state.public_base_url {
        Some(url) => url.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    format!("{base}{OAUTH_COOKIE_PATH}/callback")
}

/// A `return_to` that stays on this registry's pages (`/registry` or below) and can travel in
/// a cookie unchanged; anything else is ignored (upstream's `safeRegistryReturnTo`).
fn safe_return_to(value: &str) -> Option<&str> {
    let value = value.trim();
    let on_registry =
        value == "/registry" || value.starts_with("/registry/") || value.starts_with("/registry?");
    let cookie_safe = value.len() <= 512
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'));
    (on_registry && cookie_safe && !value.contains("//")).then_some(value)
}

fn not_configured() -> HttpResponse {
    HttpResponse::NotImplemented().json(json!({"error": "github oauth is not configured"}))
}

/// `GET auth/github/start[?return_to=/registry/...]`: 302 to GitHub's authorize page with a
/// fresh state in a cookie. 501 when no OAuth app is configured.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(github) = &state.github else {
        return Ok(not_configured());
    };
    let oauth_state = auth::new_token_secret()?;
    let secure = secure(&req, &state);
    let location = github.authorize_url(oauth_state.expose(), &redirect_uri(&req, &state));
    let mut response = HttpResponse::Found();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, h::NO_STORE))
        .append_header((
            header::SET_COOKIE,
            set_cookie(
                STATE_COOKIE,
                oauth_state.expose(),
                OAUTH_COOKIE_PATH,
                STATE_MAX_AGE as i64,
                secure,
            ),
        ));
    if let Some(return_to) = h::query_param(&req, "return_to")
        .as_deref()
        .and_then(safe_return_to)
    {
        response.append_header((
            header::SET_COOKIE,
            set_cookie(
                RETURN_TO_COOKIE,
                return_to,
                OAUTH_COOKIE_PATH,
                STATE_MAX_AGE as i64,
                secure,
            ),
        ));
    }
    Ok(response.finish())
}

/// `GET auth/github/callback?code&state`: checks the state, exchanges the code at GitHub,
/// records the user, their individual publisher and a session, sets the session cookie and
/// redirects to `return_to` (default `/registry`). 400 for a wrong state or missing
/// code, 401 when GitHub refuses the code, 403 for a suspended user.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(github) = state.github.clone() else {
        return Ok(not_configured());
    };
    let expected = auth::cookie(&req, STATE_COOKIE).unwrap_or_default();
    let given = h::query_param(&req, "state").unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(ApiError::BadRequest("invalid github oauth state".into()));
    }
    let code = Secret::new(h::query_param(&req, "code").unwrap_or_default().trim());
    if code.is_blank() || code.expose().len() > 512 {
        return Err(ApiError::BadRequest("missing github oauth code".into()));
    }
    let identity = match github
        .exchange(code.expose(), &redirect_uri(&req, &state))
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(event = "github_oauth_exchange_failed", error = %error, "github oauth exchange failed");
            return Err(ApiError::Unauthorized("github oauth exchange failed"));
        }
    };
    drop(code);
    let secret = auth::new_token_secret()?;
    let session_hash = auth::secret_hash(&secret);
    let login = identity.login.clone();
    let outcome = state
        .store
        .detached(move |store| async move {
            store
                .github_login(identity, session_hash, SESSION_TTL)
                .await
        })
        .await?;
    let (session_id, user, publisher_id) = match outcome {
        LoginOutcome::Created {
            session_id,
            user,
            publisher_id,
        } => (session_id, user, publisher_id),
        LoginOutcome::UserSuspended => {
            return Err(ApiError::Forbidden(format!(
                "registry user {login} is suspended"
            )));
        }
        LoginOutcome::NoPublisherId => {
            return Err(ApiError::Conflict(format!(
                "no publisher id is free for GitHub login {login}: ask an admin to add you to a publisher"
            )));
        }
    };
    tracing::info!(event = "registry_user_signed_in", user_id = %user.user_id, github_login = %user.github_login, publisher_id = %publisher_id, "registry_user_signed_in");
    let return_to = auth::cookie(&req, RETURN_TO_COOKIE)
        .and_then(safe_return_to)
        .unwrap_or(DEFAULT_RETURN_TO)
        .to_owned();
    let secure = secure(&req, &state);
    let token = Secret::new(format!(
        "{SESSION_TOKEN_PREFIX}{session_id}_{}",
        secret.expose()
    ));
    let max_age = i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX);
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, return_to))
        .insert_header((header::CACHE_CONTROL, h::NO_STORE))
        .append_header((
            header::SET_COOKIE,
            set_cookie(STATE_COOKIE, "", OAUTH_COOKIE_PATH, -1, secure),
        ))
        .append_header((
            header::SET_COOKIE,
            set_cookie(RETURN_TO_COOKIE, "", OAUTH_COOKIE_PATH, -1, secure),
        ))
        .append_header((
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, token.expose(), "/", max_age, secure),
        ))
        .finish())
}

/// `GET auth/session`: `{session: {user, publisher?, scopes, admin?}}`; 401 without a live
/// session.
pub async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = auth::browser_session(&req, &state.store, &state.sessions)
        .await?
        .ok_or(ApiError::Unauthorized(SESSION_REQUIRED))?;
    let mut body = json!({
        "user": session.user,
        "scopes": auth::session_scopes(),
    });
    // Upstream shows only an active publisher; a suspended one gets 403 on `me/...`.
    if let Some(publisher) = session.publisher.filter(|p| p.status == "active") {
        body["publisher"] = json!(publisher);
    }
    if session.admin {
        body["admin"] = json!(true);
    }
    Ok(private(StatusCode::OK, &json!({"session": body})))
}

/// `POST auth/logout`: revokes the session (if any) and clears the cookie; 200
/// `{status: "logged_out"}`. A request carrying a session must come from the registry's origin.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = auth::cookie(&req, SESSION_COOKIE) {
        auth::check_same_origin(&req, &state.sessions)?;
        if let Some((session_id, secret)) = auth::parse_session_token(token) {
            let (session_id, hash) = (session_id.to_owned(), Secret::new(secret).hash());
            state
                .store
                .detached(move |store| async move {
                    store.revoke_browser_session(&session_id, &hash).await
                })
                .await?;
        }
    }
    let secure = secure(&req, &state);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, h::NO_STORE))
        .append_header((
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", "/", -1, secure),
        ))
        .json(json!({"status": "logged_out"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_registry_pages() {
        assert_eq!(safe_return_to("/registry/admin"), Some("/registry/admin"));
        assert_eq!(safe_return_to("/registry"), Some("/registry"));
        assert_eq!(safe_return_to("https://evil.example"), None);
        assert_eq!(safe_return_to("//evil.example/registry"), None);
        assert_eq!(safe_return_to("/registry//evil.example"), None);
        assert_eq!(safe_return_to("/registryx"), None);
        assert_eq!(safe_return_to("/registry/a;b"), None);
        assert_eq!(safe_return_to("/registry/a b"), None);
    }
}
