//! Browser sign-in with GitHub OAuth and browser sessions.
//!
//! GitHub is an external service: a small local HTTP server stands in for its token and user
//! endpoints (the only stand-in in these tests). Everything else is real: the registry on a
//! loopback port, its Postgres database, and, for the log check, the real binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::*;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

const CLIENT_ID: &str = "test-client-id";
const CLIENT_SECRET: &str = "gh-client-secret-7c1f0e9a";
const ADMIN_LOGIN: &str = "Registry-Admin";

/// What the stand-in GitHub knows and saw.
#[derive(Default)]
struct GitHubState {
    /// Authorization codes GitHub would issue after the user approves, and whose profile.
    codes: HashMap<String, Value>,
    /// Access tokens handed out, and whose profile.
    tokens: HashMap<String, Value>,
    /// Every token request's form.
    exchanges: Vec<HashMap<String, String>>,
    next: u32,
}

struct FakeGitHub {
    url: String,
    state: Arc<Mutex<GitHubState>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeGitHub {
    /// Registers a code GitHub will accept for `profile` (as if the user approved the app).
    fn approve(&self, code: &str, profile: Value) {
        self.state
            .lock()
            .unwrap()
            .codes
            .insert(code.to_owned(), profile);
    }

    fn access_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens.keys().cloned().collect()
    }
}

async fn access_token(
    form: web::Form<HashMap<String, String>>,
    state: web::Data<Arc<Mutex<GitHubState>>>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let form = form.into_inner();
    state.exchanges.push(form.clone());
    let valid_client = form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    let profile = form
        .get("code")
        .and_then(|code| state.codes.remove(code))
        .filter(|_| valid_client);
    match profile {
        Some(profile) => {
            state.next += 1;
            let token = format!("gho_fake_access_token_{:04}", state.next);
            state.tokens.insert(token.clone(), profile);
            HttpResponse::Ok()
                .json(json!({"access_token": token, "token_type": "bearer", "scope": "read:user"}))
        }
        // GitHub answers a bad code with 200 and an error object.
        None => HttpResponse::Ok().json(json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired."
        })),
    }
}

async fn user(req: HttpRequest, state: web::Data<Arc<Mutex<GitHubState>>>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match state.lock().unwrap().tokens.get(token) {
        Some(profile) => HttpResponse::Ok().json(profile),
        None => HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"})),
    }
}

async fn fake_github() -> FakeGitHub {
    let state = Arc::new(Mutex::new(GitHubState::default()));
    let data = web::Data::new(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/login/oauth/access_token", web::post().to(access_token))
            .route("/user", web::get().to(user))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    FakeGitHub { url, state, handle }
}

fn profile(id: u64, login: &str, name: &str) -> Value {
    json!({
        "id": id, "login": login, "name": name, "email": format!("{}@example.com", login.to_lowercase()),
        "avatar_url": "https://avatars.example.com/u.png",
        "html_url": format!("https://github.com/{login}")
    })
}

async fn spawn_with_github(db_url: &str, github: &FakeGitHub, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "--github-client-id",
        CLIENT_ID,
        "--github-client-secret",
        CLIENT_SECRET,
        "--github-oauth-url",
        &github.url,
        "--github-api-url",
        &github.url,
        "--admin-github-logins",
        "someone-else, registry-admin",
    ];
    args.extend_from_slice(extra);
    spawn_on(db_url, &args).await
}

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Set-Cookie` headers, by cookie name.
fn set_cookies(response: &reqwest::Response) -> HashMap<String, String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .map(|v| (v.split('=').next().unwrap().to_owned(), v))
        .collect()
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// What a completed sign-in left behind.
struct SignIn {
    /// `anip_registry_session=...`, ready for a `Cookie` header.
    cookie: String,
    /// The session cookie's value (`anip_sid_<id>_<secret>`).
    token: String,
    location: String,
    set_cookie: String,
    bodies: Vec<String>,
}

/// Runs start → (GitHub approves `code`) → callback, as a browser would.
async fn sign_in(
    app: &TestApp,
    github: &FakeGitHub,
    code: &str,
    profile: Value,
    return_to: &str,
) -> SignIn {
    let browser = browser();
    let start = browser
        .get(app.url(&format!("auth/github/start{return_to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let cookies = set_cookies(&start);
    let state_cookie = cookies["anip_registry_oauth_state"].clone();
    let state = cookie_value(&state_cookie);
    let location = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.contains(&format!("&state={state}&")), "{location}");
    github.approve(code, profile);
    let mut cookie_header = format!("anip_registry_oauth_state={state}");
    if let Some(return_to) = cookies.get("anip_registry_oauth_return_to") {
        cookie_header.push_str(&format!(
            "; anip_registry_oauth_return_to={}",
            cookie_value(return_to)
        ));
    }
    let callback = browser
        .get(app.url(&format!("auth/github/callback?code={code}&state={state}")))
        .header(COOKIE, cookie_header)
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 302, "{:?}", callback.text().await);
    let cookies = set_cookies(&callback);
    let set_cookie = cookies["anip_registry_session"].clone();
    assert!(cookies["anip_registry_oauth_state"].contains("Max-Age=0"));
    let token = cookie_value(&set_cookie);
    let location = callback.headers()[LOCATION].to_str().unwrap().to_owned();
    let bodies = vec![start.text().await.unwrap(), callback.text().await.unwrap()];
    SignIn {
        cookie: format!("anip_registry_session={token}"),
        token,
        location,
        set_cookie,
        bodies,
    }
}

async fn with_cookie(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .header(COOKIE, cookie);
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `http://127.0.0.1:port`, the registry's own origin.
fn origin(app: &TestApp) -> String {
    app.api.trim_end_matches("/registry-api/v1").to_owned()
}

#[tokio::test]
async fn github_sign_in_creates_user_publisher_and_session() {
    let github = fake_github().await;
    let db = database().await;
    let app = spawn_with_github(&db.url, &github, &[]).await;
    let own = origin(&app);

    // Start: a state cookie scoped to the OAuth paths, and GitHub's authorize page.
    let start = browser()
        .get(app.url("auth/github/start?return_to=/registry/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let location = start.headers()[LOCATION].to_str().unwrap();
    let callback_url = format!("{own}/registry-api/v1/auth/github/callback");
    assert!(
        location.starts_with(&format!(
            "{}/login/oauth/authorize?client_id={CLIENT_ID}&redirect_uri={}&state=",
            github.url,
            callback_url.replace(':', "%3A").replace('/', "%2F")
        )),
        "{location}"
    );
    let cookies = set_cookies(&start);
    let state_cookie = &cookies["anip_registry_oauth_state"];
    for part in [
        "Path=/registry-api/v1/auth/github",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(state_cookie.contains(part), "{state_cookie}");
    }
    assert!(!state_cookie.contains("Secure"), "plain-http registry");
    assert!(cookies["anip_registry_oauth_return_to"].contains("=/registry/admin;"));

    // Callback: the code is exchanged with the client secret, the user lands where they asked.
    let signed = sign_in(
        &app,
        &github,
        "code-samir-1",
        profile(12345, "Samir-Labs", "Samir Labs"),
        "?return_to=/registry/admin",
    )
    .await;
    assert_eq!(signed.location, "/registry/admin");
    for part in ["Path=/;", "HttpOnly", "SameSite=Lax", "Max-Age=2592000"] {
        assert!(signed.set_cookie.contains(part), "{}", signed.set_cookie);
    }
    assert!(signed.token.starts_with("anip_sid_"));
    let exchange = github
        .state
        .lock()
        .unwrap()
        .exchanges
        .last()
        .cloned()
        .unwrap();
    assert_eq!(exchange["client_secret"], CLIENT_SECRET);
    assert_eq!(exchange["code"], "code-samir-1");
    assert_eq!(exchange["redirect_uri"], callback_url);

    // Only the secret's SHA-256 is stored.
    let secret = signed.token.rsplit('_').next().unwrap().to_owned();
    let client = db.pool().get().await.unwrap();
    let stored: String = client
        .query_one(
            "SELECT string_agg(s::text, ' ') FROM registry_browser_sessions s",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.contains(&signing::token_hash(&secret)), "{stored}");
    assert!(
        !stored.contains(&secret),
        "the session secret is stored in clear"
    );

    // The session: user, individual publisher, management scopes, no admin flag.
    let (status, session) =
        with_cookie(&app, "GET", "auth/session", &signed.cookie, None, None).await;
    assert_eq!(status, 200, "{session}");
    let session = &session["session"];
    assert_eq!(session["user"]["github_login"], "Samir-Labs");
    assert_eq!(session["user"]["github_user_id"], "12345");
    assert_eq!(session["user"]["display_name"], "Samir Labs");
    assert_eq!(session["user"]["status"], "active");
    assert_eq!(session["publisher"]["publisher_id"], "samir-labs");
    assert_eq!(session["publisher"]["publisher_type"], "individual");
    assert_eq!(
        session["publisher"]["website_url"],
        "https://github.com/Samir-Labs"
    );
    assert_eq!(
        session["scopes"]["operations"],
        json!(["manage:publisher", "manage:tokens"])
    );
    assert!(session.get("admin").is_none());

    // `me/...` accepts the session; reads need no Origin.
    let (status, me) = with_cookie(&app, "GET", "me/publisher", &signed.cookie, None, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["publisher"]["publisher_id"], "samir-labs");
    assert_eq!(
        me["scopes"]["operations"],
        json!(["manage:publisher", "manage:tokens"])
    );

    // Writes need the registry's own origin (or Sec-Fetch-Site: same-origin).
    let token_request =
        json!({"label": "ci", "scopes": {"operations": ["publish", "manage:tokens"]}});
    for bad_origin in [None, Some("http://evil.example"), Some("null")] {
        let (status, body) = with_cookie(
            &app,
            "POST",
            "me/tokens",
            &signed.cookie,
            bad_origin,
            Some(token_request.clone()),
        )
        .await;
        assert_eq!(status, 403, "{bad_origin:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("cross-origin"),
            "{body}"
        );
    }
    let response = app
        .client
        .post(app.url("me/tokens"))
        .header(COOKIE, &signed.cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&token_request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, created) = with_cookie(
        &app,
        "POST",
        "me/tokens",
        &signed.cookie,
        Some(&own),
        Some(token_request.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let bearer = created["bearer_token"].as_str().unwrap();
    let (status, _) = app.get_json_with("me/publisher", bearer).await;
    assert_eq!(status, 200, "the token the session minted works");
    let events = app
        .state()
        .store
        .audit_events("token", created["token"]["token_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(events[0].1, "github:Samir-Labs");
    let (status, updated) = with_cookie(
        &app,
        "PATCH",
        "me/publisher",
        &signed.cookie,
        Some(&own),
        Some(json!({"display_name": "Samir's Lab"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    let (status, body) = with_cookie(
        &app,
        "PATCH",
        "me/publisher",
        &signed.cookie,
        Some(&own),
        Some(json!({"display_name": ""})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "display_name");

    // Not an admin: admin routes refuse the session with 403.
    let (status, body) = with_cookie(&app, "GET", "admin/users", &signed.cookie, None, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) =
        with_cookie(&app, "GET", "admin/publishers", &signed.cookie, None, None).await;
    assert_eq!(status, 403);

    // An allow-listed login is an admin (case-insensitively) on every admin route.
    let admin = sign_in(
        &app,
        &github,
        "code-admin",
        profile(777, ADMIN_LOGIN, ""),
        "",
    )
    .await;
    assert_eq!(admin.location, "/registry", "the default landing page");
    let (status, session) =
        with_cookie(&app, "GET", "auth/session", &admin.cookie, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(session["session"]["admin"], true);
    assert_eq!(
        session["session"]["user"]["display_name"], ADMIN_LOGIN,
        "no name: the login"
    );
    let (status, users) = with_cookie(&app, "GET", "admin/users", &admin.cookie, None, None).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["total"], 2);
    let (status, _) = with_cookie(&app, "GET", "admin/publishers", &admin.cookie, None, None).await;
    assert_eq!(status, 200);
    let report = json!({"target_kind": "publisher", "target_id": "samir-labs", "category": "spam", "reason": "test"});
    let (status, _) = with_cookie(
        &app,
        "POST",
        "admin/abuse-reports",
        &admin.cookie,
        Some("http://evil.example"),
        Some(report.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, filed) = with_cookie(
        &app,
        "POST",
        "admin/abuse-reports",
        &admin.cookie,
        Some(&own),
        Some(report),
    )
    .await;
    assert_eq!(status, 201, "{filed}");
    let events = app
        .state()
        .store
        .audit_events("publisher", "samir-labs")
        .await
        .unwrap();
    assert_eq!(events[0].0, "abuse.report.created");
    assert_eq!(events[0].1, "github:Registry-Admin");

    // A suspended publisher: the session stays valid but `me/...` is 403.
    let (status, _) = app
        .patch_json(
            "admin/publishers/samir-labs/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "review"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = with_cookie(&app, "GET", "me/publisher", &signed.cookie, None, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, session) =
        with_cookie(&app, "GET", "auth/session", &signed.cookie, None, None).await;
    assert_eq!(status, 200);
    assert!(session["session"].get("publisher").is_none(), "{session}");
    app.patch_json(
        "admin/publishers/samir-labs/status",
        Some(ADMIN_TOKEN),
        &json!({"status": "active"}),
    )
    .await;

    // Signing in again after a GitHub rename keeps the same publisher and refreshes the user;
    // another account that now uses the old login gets a publisher of its own.
    let renamed = sign_in(
        &app,
        &github,
        "code-samir-2",
        profile(12345, "samir-renamed", "Samir"),
        "",
    )
    .await;
    let (_, session) = with_cookie(&app, "GET", "auth/session", &renamed.cookie, None, None).await;
    assert_eq!(
        session["session"]["publisher"]["publisher_id"],
        "samir-labs"
    );
    assert_eq!(session["session"]["user"]["github_login"], "samir-renamed");
    let newcomer = sign_in(
        &app,
        &github,
        "code-new",
        profile(999, "Samir-Labs", "Someone Else"),
        "",
    )
    .await;
    let (_, session) = with_cookie(&app, "GET", "auth/session", &newcomer.cookie, None, None).await;
    assert_eq!(
        session["session"]["publisher"]["publisher_id"],
        "github-999"
    );
    let (_, users) = app
        .get_json_with("admin/users?search=samir", ADMIN_TOKEN)
        .await;
    assert_eq!(users["total"], 2);

    // Logout revokes the session server-side and clears the cookie.
    let response = app
        .client
        .post(app.url("auth/logout"))
        .header(COOKIE, &signed.cookie)
        .header(ORIGIN, &own)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cleared = set_cookies(&response)["anip_registry_session"].clone();
    assert!(
        cleared.starts_with("anip_registry_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "logged_out"})
    );
    let (status, body) = with_cookie(&app, "GET", "auth/session", &signed.cookie, None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "valid registry browser session is required");
    let (status, _) = with_cookie(&app, "GET", "me/publisher", &signed.cookie, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = with_cookie(
        &app,
        "POST",
        "auth/logout",
        &renamed.cookie,
        Some("http://evil.example"),
        None,
    )
    .await;
    assert_eq!(status, 403, "a cross-site logout is refused");

    // A suspended user's session stops working and they cannot sign in again.
    client
        .execute(
            "UPDATE registry_users SET status = 'suspended' WHERE github_user_id = '999'",
            &[],
        )
        .await
        .unwrap();
    let (status, _) = with_cookie(&app, "GET", "auth/session", &newcomer.cookie, None, None).await;
    assert_eq!(status, 401);
    let browser = browser();
    let start = browser
        .get(app.url("auth/github/start"))
        .send()
        .await
        .unwrap();
    let state = cookie_value(&set_cookies(&start)["anip_registry_oauth_state"]);
    github.approve("code-new-2", profile(999, "Samir-Labs", "Someone Else"));
    let response = browser
        .get(app.url(&format!(
            "auth/github/callback?code=code-new-2&state={state}"
        )))
        .header(COOKIE, format!("anip_registry_oauth_state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(!set_cookies(&response).contains_key("anip_registry_session"));
    github.handle.stop(false).await;
}

#[tokio::test]
async fn callback_and_session_refuse_bad_input() {
    let github = fake_github().await;
    let db = database().await;
    let app = spawn_with_github(&db.url, &github, &[]).await;
    let browser = browser();
    let start = browser
        .get(app.url("auth/github/start?return_to=https%3A%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&start);
    assert!(
        !cookies.contains_key("anip_registry_oauth_return_to"),
        "unsafe return_to is ignored"
    );
    let state = cookie_value(&cookies["anip_registry_oauth_state"]);
    github.approve("good-code", profile(5, "octo", "Octo"));
    let callback = |query: String, cookie: Option<String>| {
        let mut request = browser.get(app.url(&format!("auth/github/callback{query}")));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let has_session = set_cookies(&response).contains_key("anip_registry_session");
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
                has_session,
            )
        }
    };
    let state_cookie = Some(format!("anip_registry_oauth_state={state}"));
    let cases = [
        (
            "?code=good-code&state=wrong".to_owned(),
            state_cookie.clone(),
            400,
            "invalid github oauth state",
        ),
        (
            format!("?code=good-code&state={state}"),
            None,
            400,
            "invalid github oauth state",
        ),
        (
            "?code=good-code".to_owned(),
            state_cookie.clone(),
            400,
            "invalid github oauth state",
        ),
        (
            format!("?state={state}"),
            state_cookie.clone(),
            400,
            "missing github oauth code",
        ),
        (
            format!("?code=unknown-code&state={state}"),
            state_cookie.clone(),
            401,
            "github oauth exchange failed",
        ),
    ];
    for (query, cookie, status, error) in cases {
        let (got, body, has_session) = callback(query.clone(), cookie).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["error"], error, "{query}");
        assert!(!has_session);
    }
    // The good code still works (a refused callback does not consume it).
    let (status, _, has_session) =
        callback(format!("?code=good-code&state={state}"), state_cookie).await;
    assert_eq!(status, 302);
    assert!(has_session);

    // Session cookies that name no live session: 401, on `auth/session` and `me/...` alike.
    let id = "123e4567-e89b-12d3-a456-426614174000";
    for cookie in [
        "anip_registry_session=garbage".to_owned(),
        format!("anip_registry_session=anip_sid_{id}_deadbeef"),
        "anip_registry_session=anip_sid_not-a-uuid_x".to_owned(),
    ] {
        let (status, _) = with_cookie(&app, "GET", "auth/session", &cookie, None, None).await;
        assert_eq!(status, 401, "{cookie}");
        let (status, _) = with_cookie(&app, "GET", "me/publisher", &cookie, None, None).await;
        assert_eq!(status, 401, "{cookie}");
        let (status, _) = with_cookie(&app, "GET", "admin/users", &cookie, None, None).await;
        assert_eq!(status, 401, "{cookie}");
    }
    let (status, body) = app.get_json("auth/session").await;
    assert_eq!(status, 401, "{body}");
    // A real session id with a wrong secret.
    let signed = sign_in(&app, &github, "code-2", profile(6, "other", "Other"), "").await;
    let forged = format!(
        "anip_registry_session={}_{}",
        signed.token.rsplit_once('_').unwrap().0,
        "0".repeat(64)
    );
    let (status, _) = with_cookie(&app, "GET", "auth/session", &forged, None, None).await;
    assert_eq!(status, 401);
    // A bearer token wins over a cookie on `me/...` (no session fallback with a bad token).
    let response = app
        .client
        .get(app.url("me/publisher"))
        .header(COOKIE, &signed.cookie)
        .bearer_auth("anip_pat_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    github.handle.stop(false).await;
}

#[tokio::test]
async fn oauth_not_configured_and_secure_cookies() {
    let db = database().await;
    let plain = spawn_on(&db.url, &[]).await;
    let (status, body) = plain.get_json("auth/github/start").await;
    assert_eq!(status, 501);
    assert_eq!(body["error"], "github oauth is not configured");
    let (status, _) = plain.get_json("auth/github/callback?code=x&state=y").await;
    assert_eq!(status, 501);
    let (status, body) = plain.post_json("auth/logout", None, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "logged_out");

    // An https public base URL: Secure cookies, and the callback URL under that base.
    let github = fake_github().await;
    let public = spawn_with_github(
        &db.url,
        &github,
        &["--public-base-url", "https://registry.example.com/"],
    )
    .await;
    let start = browser()
        .get(public.url("auth/github/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    assert!(set_cookies(&start)["anip_registry_oauth_state"].ends_with("; Secure"));
    assert!(start.headers()[LOCATION]
        .to_str()
        .unwrap()
        .contains("redirect_uri=https%3A%2F%2Fregistry.example.com%2Fregistry-api%2Fv1%2Fauth%2Fgithub%2Fcallback&"));
    // There, state-changing session requests must come from https://registry.example.com.
    let signed = sign_in(&public, &github, "code-p", profile(8, "pub", "Pub"), "").await;
    assert!(signed.set_cookie.ends_with("; Secure"));
    let token_request = json!({"label": "x", "scopes": {"operations": ["manage:tokens"]}});
    let (status, _) = with_cookie(
        &public,
        "POST",
        "me/tokens",
        &signed.cookie,
        Some(&origin(&public)),
        Some(token_request.clone()),
    )
    .await;
    assert_eq!(status, 403, "the loopback origin is not the public one");
    let (status, _) = with_cookie(
        &public,
        "POST",
        "me/tokens",
        &signed.cookie,
        Some("https://registry.example.com"),
        Some(token_request),
    )
    .await;
    assert_eq!(status, 201);
    github.handle.stop(false).await;
}

/// The real binary signs a user in; its logs (at debug level) and the response bodies never
/// carry the client secret, the code, GitHub's access token or the session secret.
#[tokio::test]
async fn secrets_stay_out_of_logs_and_bodies() {
    let github = fake_github().await;
    let db = database().await;
    let port = store::free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_anip-registry"))
        .env_clear()
        .env("RUST_LOG", "debug")
        .env("ANIP_REGISTRY_DATABASE_URL", &db.url)
        .env("ANIP_REGISTRY_ADDR", &addr)
        .env("ANIP_REGISTRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ANIP_REGISTRY_GITHUB_CLIENT_ID", CLIENT_ID)
        .env("ANIP_REGISTRY_GITHUB_CLIENT_SECRET", CLIENT_SECRET)
        .env("ANIP_REGISTRY_GITHUB_OAUTH_URL", &github.url)
        .env("ANIP_REGISTRY_GITHUB_API_URL", &github.url)
        .env("ANIP_REGISTRY_ADMIN_GITHUB_LOGINS", "octo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let api = format!("http://{addr}/registry-api/v1");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    while !client
        .get(format!("{api}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "the registry did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let app = TestApp {
        running: None,
        api: api.clone(),
        db_url: db.url.clone(),
        client: client.clone(),
    };
    let own = origin(&app);
    let signed = sign_in(
        &app,
        &github,
        "code-secret-4f9d",
        profile(42, "octo", "Octo"),
        "?return_to=/registry/admin",
    )
    .await;
    let mut bodies = signed.bodies.clone();
    for (method, path, body) in [
        ("GET", "auth/session", None),
        ("GET", "me/publisher", None),
        ("GET", "admin/users", None),
        (
            "POST",
            "me/tokens",
            Some(json!({"label": "ci", "scopes": {"operations": ["manage:tokens"]}})),
        ),
    ] {
        let (status, body) =
            with_cookie(&app, method, path, &signed.cookie, Some(&own), body).await;
        assert!(status == 200 || status == 201, "{path}: {body}");
        bodies.push(body.to_string());
    }
    // A refused code is logged as a refusal, without the code.
    let start = browser()
        .get(app.url("auth/github/start"))
        .send()
        .await
        .unwrap();
    let state = cookie_value(&set_cookies(&start)["anip_registry_oauth_state"]);
    let refused = browser()
        .get(app.url(&format!(
            "auth/github/callback?code=refused-code-77aa&state={state}"
        )))
        .header(COOKIE, format!("anip_registry_oauth_state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    bodies.push(refused.text().await.unwrap());
    let response = client
        .post(app.url("auth/logout"))
        .header(COOKIE, &signed.cookie)
        .header(ORIGIN, &own)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    bodies.push(response.text().await.unwrap());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(logs.contains("registry_user_signed_in"), "{logs}");
    assert!(logs.contains("github_oauth_exchange_failed"), "{logs}");
    let session_secret = signed.token.rsplit('_').next().unwrap().to_owned();
    let mut secrets = vec![
        CLIENT_SECRET.to_owned(),
        "code-secret-4f9d".to_owned(),
        "refused-code-77aa".to_owned(),
        signed.token.clone(),
        session_secret,
        ADMIN_TOKEN.to_owned(),
    ];
    secrets.extend(github.access_tokens());
    assert_eq!(secrets.len(), 7, "one access token was issued");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{secret} leaked into the logs"
        );
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "{secret} leaked into a response: {body}"
            );
        }
    }
    github.handle.stop(false).await;
}
