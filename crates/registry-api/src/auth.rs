//! Who is calling, and what they may publish.
//!
//! Credentials are `Authorization: Bearer <token>`: the admin token, the configured publish token
//! (acting as ANIP_REGISTRY_PUBLISHER_ID, the first-party publisher), or a publisher token
//! `anip_pat_<uuid>_<secret>` whose SHA-256 is stored. Every comparison is constant-time.
//! Missing or wrong credentials are 401; valid credentials that may not do something (suspended
//! publisher, missing scope, someone else's namespace or package) are 403.

use actix_web::HttpRequest;
use signing::{constant_time_eq, token_hash, Secret};

use crate::error::ApiError;
use crate::ids::id_in_namespace;
use crate::model::TokenScopes;
use crate::publish::PublisherIdentity;
use crate::store::{Actor, NamespaceRow, OwnerRow, Store};

/// The prefix of publisher tokens (upstream's `RegistryPublishTokenPrefix`).
pub const TOKEN_PREFIX: &str = "anip_pat_";

/// Operations a token scope may grant.
pub const OPERATIONS: [&str; 5] = [
    "publish",
    "publish:package",
    "publish:template",
    "manage:tokens",
    "manage:publisher",
];

/// An authenticated publisher.
#[derive(Debug, Clone)]
pub struct Principal {
    pub publisher_id: String,
    pub publisher_type: String,
    /// The publisher token's id (`None` for the configured publish token).
    pub token_id: Option<String>,
    pub scopes: TokenScopes,
    /// The configured publish token: the registry's own publisher, with every operation and no
    /// namespace restriction.
    pub first_party: bool,
    /// Set when a browser session authenticated the request: the signed-in GitHub login, who
    /// acts as the publisher's owner (every self-service operation, tokens of any scope within
    /// the publisher's rights). Sessions never authenticate publishing: [`authenticate`] reads
    /// bearer tokens only.
    pub session_login: Option<String>,
}

impl Principal {
    /// The publisher identity stamped on what this principal publishes.
    pub fn identity(&self) -> PublisherIdentity {
        PublisherIdentity {
            publisher_id: self.publisher_id.clone(),
            publisher_type: self.publisher_type.clone(),
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            actor: match &self.session_login {
                Some(login) => format!("github:{login}"),
                None => format!("publisher:{}", self.publisher_id),
            },
            publisher_id: Some(self.publisher_id.clone()),
            token_id: self.token_id.clone(),
        }
    }

    /// Whether the scopes grant `operation` (`publish` grants both publish operations).
    pub fn allows(&self, operation: &str) -> bool {
        self.first_party
            || self.session_login.is_some()
            || self.scopes.operations.iter().any(|granted| {
                granted == operation || (granted == "publish" && operation.starts_with("publish:"))
            })
    }

    /// 403 unless the scopes grant `operation`.
    pub fn require(&self, operation: &str) -> Result<(), ApiError> {
        if self.allows(operation) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "token does not include the {operation} scope"
            )))
        }
    }

    /// Whether the token is restricted to some namespaces or ids.
    pub fn restricted(&self) -> bool {
        !self.scopes.namespaces.is_empty()
            || !self.scopes.package_ids.is_empty()
            || !self.scopes.template_ids.is_empty()
    }

    /// Whether a restricted token's scope covers `id` (unrestricted tokens cover everything).
    pub fn scope_covers(&self, kind: &str, id: &str) -> bool {
        if !self.restricted() {
            return true;
        }
        let ids = if kind == "template" {
            &self.scopes.template_ids
        } else {
            &self.scopes.package_ids
        };
        ids.iter().any(|allowed| allowed == id)
            || self
                .scopes
                .namespaces
                .iter()
                .any(|ns| id_in_namespace(id, ns))
    }
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    bearer_token(header)
}

/// The token of an `Authorization` value whose scheme is `Bearer`, matched case-insensitively
/// (RFC 7235 §2.1: `bearer`, `BEARER` and `Bearer` are the same scheme); `None` for another
/// scheme or an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401/403 unless the request carries the admin token.
pub fn require_admin(req: &HttpRequest, admin_token: Option<&Secret>) -> Result<(), ApiError> {
    let Some(configured) = admin_token else {
        return Err(ApiError::Forbidden(
            "registry admin auth is not configured".into(),
        ));
    };
    match bearer(req) {
        Some(token) if constant_time_eq(token.as_bytes(), configured.expose().as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized(
            "valid registry admin bearer token is required",
        )),
    }
}

/// The publish token's configured publisher.
#[derive(Debug, Clone)]
pub struct FirstParty {
    pub token: Option<Secret>,
    pub publisher_id: String,
    pub publisher_type: String,
}

/// Authenticates a publisher: 401 for missing or wrong credentials, 403 for a publisher that is
/// not active.
pub async fn authenticate(
    req: &HttpRequest,
    store: &Store,
    first_party: &FirstParty,
) -> Result<Principal, ApiError> {
    const REQUIRED: &str = "valid scoped publish bearer token is required";
    let token = bearer(req).ok_or(ApiError::Unauthorized(REQUIRED))?;
    if let Some(configured) = &first_party.token {
        if constant_time_eq(token.as_bytes(), configured.expose().as_bytes()) {
            let status = store.publisher_status(&first_party.publisher_id).await?;
            check_publisher_status(&first_party.publisher_id, status.as_deref())?;
            return Ok(Principal {
                publisher_id: first_party.publisher_id.clone(),
                publisher_type: first_party.publisher_type.clone(),
                token_id: None,
                scopes: TokenScopes::default(),
                first_party: true,
                session_login: None,
            });
        }
    }
    let (token_id, secret) = parse_token(token).ok_or(ApiError::Unauthorized(REQUIRED))?;
    let row = store
        .token(token_id)
        .await?
        .ok_or(ApiError::Unauthorized(REQUIRED))?;
    if !Secret::new(secret).matches_hash(&row.token_hash) || row.revoked || row.expired {
        return Err(ApiError::Unauthorized(REQUIRED));
    }
    check_publisher_status(&row.publisher_id, Some(&row.publisher_status))?;
    // Best effort: a failed last-used stamp must not fail the request.
    if let Err(error) = store.touch_token(&row.token_id).await {
        tracing::warn!(event = "registry_token_touch_failed", error = %error, "could not record token use");
    }
    Ok(Principal {
        publisher_id: row.publisher_id,
        publisher_type: row.publisher_type,
        token_id: Some(row.token_id),
        scopes: row.scopes,
        first_party: false,
        session_login: None,
    })
}

fn check_publisher_status(publisher_id: &str, status: Option<&str>) -> Result<(), ApiError> {
    match status {
        Some("active") => Ok(()),
        Some(status) => Err(ApiError::Forbidden(format!(
            "publisher {publisher_id} is {status}"
        ))),
        None => Err(ApiError::Forbidden(format!(
            "publisher {publisher_id} is not registered"
        ))),
    }
}

/// Splits `anip_pat_<uuid>_<secret>`; `None` unless the id is a well-formed UUID.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (is_uuid(id) && !secret.is_empty()).then_some((id, secret))
}

/// Whether `value` is a hyphenated UUID (`8-4-4-4-12` hex digits).
pub fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fresh publisher token and the hash to store.
pub fn new_token_secret() -> Result<Secret, ApiError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::Internal("random number generator failed".into()))?;
    let secret = Secret::new(signing::digest::hex(&bytes));
    bytes.fill(0);
    Ok(secret)
}

/// The bearer string of a token.
pub fn bearer_string(token_id: &str, secret: &Secret) -> Secret {
    Secret::new(format!("{TOKEN_PREFIX}{token_id}_{}", secret.expose()))
}

/// The hash stored for a token secret.
pub fn secret_hash(secret: &Secret) -> String {
    token_hash(secret.expose())
}

/// Every namespace that could cover `id`: each `/`-prefix and the id itself.
pub fn namespace_candidates(id: &str) -> Vec<String> {
    let mut candidates: Vec<String> = id
        .match_indices('/')
        .map(|(index, _)| id[..index].to_owned())
        .collect();
    candidates.push(id.to_owned());
    candidates
}

/// Decides whether `principal` may publish `kind`/`id`. `Ok(Some(ns))` claims an unowned id under
/// namespace `ns`, `Ok(None)` publishes an id the principal already owns or claims one outside
/// every namespace (first party only); `Err` explains the refusal (403).
///
/// Unlike upstream, a token scoped to package ids cannot claim an unowned id that lies outside
/// its publisher's active namespaces, and someone else's namespace covers `ns` and `ns/...`.
pub fn decide_publish(
    principal: &Principal,
    kind: &str,
    id: &str,
    owner: Option<&OwnerRow>,
    namespaces: &[NamespaceRow],
) -> Result<Option<String>, String> {
    if !principal.scope_covers(kind, id) {
        return Err(format!("token scope does not include {kind} {id}"));
    }
    if let Some(owner) = owner {
        if owner.publisher_id != principal.publisher_id {
            return Err(format!("{kind} {id} is owned by another publisher"));
        }
        if owner.status != "active" {
            return Err(format!("ownership of {kind} {id} is {}", owner.status));
        }
        return Ok(None);
    }
    // The most specific namespace that covers the id decides.
    let covering = namespaces
        .iter()
        .filter(|ns| id_in_namespace(id, &ns.namespace))
        .filter(|ns| {
            matches!(ns.status.as_str(), "active" | "reserved" | "suspended")
                || ns.publisher_id == principal.publisher_id
        })
        .max_by_key(|ns| ns.namespace.len());
    match covering {
        Some(ns) if ns.publisher_id != principal.publisher_id => Err(format!(
            "namespace {} belongs to another publisher",
            ns.namespace
        )),
        Some(ns) if ns.status != "active" => {
            Err(format!("namespace {} is {}", ns.namespace, ns.status))
        }
        Some(ns) if !ns.artifact_kinds.iter().any(|k| k == kind) => {
            Err(format!("namespace {} does not allow {kind}s", ns.namespace))
        }
        Some(ns) => Ok(Some(ns.namespace.clone())),
        None if principal.first_party => Ok(None),
        None => Err(format!(
            "{kind} {id} is not inside an active namespace of publisher {}",
            principal.publisher_id
        )),
    }
}

// Browser sessions (GitHub sign-in): the cookie `anip_registry_session` carries
// `anip_sid_<session_id>_<secret>`; the store keeps the secret's SHA-256 only.

/// The session cookie (upstream's name).
pub const SESSION_COOKIE: &str = "anip_registry_session";
/// The prefix of session cookie values.
pub const SESSION_TOKEN_PREFIX: &str = "anip_sid_";
/// How long a browser session lasts (upstream: 30 days).
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 60 * 60);
/// The 401 of a missing or dead session.
pub const SESSION_REQUIRED: &str = "valid registry browser session is required";

/// How browser sessions behave, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct SessionSettings {
    /// Mark cookies `Secure` (ANIP_REGISTRY_SESSION_COOKIE_SECURE, or an https public base URL).
    pub cookie_secure: bool,
    /// Lower-cased GitHub logins whose sessions may use the admin routes.
    pub admin_logins: Vec<String>,
    /// `https://registry.example.com` (scheme and host only), if a public base URL is set: the
    /// only origin accepted on state-changing session requests. Without it, the request's own
    /// scheme and host.
    pub public_origin: Option<String>,
}

/// A signed-in browser user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session_id: String,
    pub user: crate::store::users::RegistryUser,
    /// The publisher the session acts for, whatever its status.
    pub publisher: Option<crate::model::Publisher>,
    /// Whether the login is in ANIP_REGISTRY_ADMIN_GITHUB_LOGINS.
    pub admin: bool,
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Splits `anip_sid_<uuid>_<secret>`; `None` unless the id is a well-formed UUID.
pub fn parse_session_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(SESSION_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (is_uuid(id) && !secret.is_empty()).then_some((id, secret))
}

/// The request's browser session: `Ok(None)` without a session cookie, 401 for a cookie that
/// names no live session of an active user.
pub async fn browser_session(
    req: &HttpRequest,
    store: &Store,
    settings: &SessionSettings,
) -> Result<Option<BrowserSession>, ApiError> {
    let Some(token) = cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let (session_id, secret) =
        parse_session_token(token).ok_or(ApiError::Unauthorized(SESSION_REQUIRED))?;
    let row = store
        .browser_session(session_id)
        .await?
        .ok_or(ApiError::Unauthorized(SESSION_REQUIRED))?;
    if !Secret::new(secret).matches_hash(&row.session_hash) || row.user.status != "active" {
        return Err(ApiError::Unauthorized(SESSION_REQUIRED));
    }
    let publisher = match &row.publisher_id {
        Some(id) => store.publisher(id).await?,
        None => None,
    };
    let login = row.user.github_login.to_lowercase();
    let admin = !login.is_empty() && settings.admin_logins.contains(&login);
    Ok(Some(BrowserSession {
        session_id: session_id.to_owned(),
        user: row.user,
        publisher,
        admin,
    }))
}

/// Refuses (403) a state-changing request that a browser session authenticates unless it comes
/// from the registry's own pages: its `Origin` must be the registry's origin, or, without an
/// `Origin`, `Sec-Fetch-Site` must say `same-origin`. Cookies are `SameSite=Lax` as well; this
/// also covers same-site attackers and browsers without SameSite.
pub fn check_same_origin(req: &HttpRequest, settings: &SessionSettings) -> Result<(), ApiError> {
    use actix_web::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let allowed = match header("origin") {
        Some(origin) => {
            let expected = settings.public_origin.clone().unwrap_or_else(|| {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            });
            origin.eq_ignore_ascii_case(&expected)
        }
        None => header("sec-fetch-site") == Some("same-origin"),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "cross-origin request refused: a browser session may change state only from the registry's own origin"
                .into(),
        ))
    }
}

/// Authenticates a `me/...` request: a bearer token as [`authenticate`] does, or, without one,
/// the browser session (upstream's self-service rule), acting for the session's publisher.
pub async fn authenticate_self_service(
    req: &HttpRequest,
    state: &crate::app::AppState,
) -> Result<Principal, ApiError> {
    if bearer(req).is_some() || cookie(req, SESSION_COOKIE).is_none() {
        return authenticate(req, &state.store, &state.first_party).await;
    }
    check_same_origin(req, &state.sessions)?;
    let session = browser_session(req, &state.store, &state.sessions)
        .await?
        .ok_or(ApiError::Unauthorized(SESSION_REQUIRED))?;
    let publisher = session.publisher.ok_or(ApiError::Unauthorized(
        "valid scoped publisher bearer token or browser session is required",
    ))?;
    check_publisher_status(&publisher.publisher_id, Some(&publisher.status))?;
    Ok(Principal {
        publisher_id: publisher.publisher_id,
        publisher_type: publisher.publisher_type,
        token_id: None,
        scopes: session_scopes(),
        first_party: false,
        session_login: Some(session.user.github_login),
    })
}

/// The scopes a browser session shows (upstream's `registryBrowserSessionScopes`).
pub fn session_scopes() -> TokenScopes {
    TokenScopes {
        operations: vec!["manage:publisher".into(), "manage:tokens".into()],
        ..Default::default()
    }
}

/// Authorizes an admin request: the admin bearer token, or (without a bearer token) the browser
/// session of a login in ANIP_REGISTRY_ADMIN_GITHUB_LOGINS. 401 for missing or wrong
/// credentials, 403 for a session that is not an admin's or when no admin auth is configured.
pub async fn require_admin_actor(
    req: &HttpRequest,
    state: &crate::app::AppState,
) -> Result<Actor, ApiError> {
    if bearer(req).is_none() && cookie(req, SESSION_COOKIE).is_some() {
        check_same_origin(req, &state.sessions)?;
        let session = browser_session(req, &state.store, &state.sessions)
            .await?
            .ok_or(ApiError::Unauthorized(SESSION_REQUIRED))?;
        if !session.admin {
            return Err(ApiError::Forbidden(
                "valid registry admin session or bearer token is required".into(),
            ));
        }
        return Ok(Actor {
            actor: format!("github:{}", session.user.github_login),
            publisher_id: None,
            token_id: None,
        });
    }
    if state.admin_token.is_none() && !state.sessions.admin_logins.is_empty() {
        return Err(ApiError::Unauthorized(
            "valid registry admin session or bearer token is required",
        ));
    }
    require_admin(req, state.admin_token.as_ref())?;
    Ok(Actor::admin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", " bEaReR \t abc "] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in [
            "Bearer",
            "Bearer ",
            "bearer   ",
            "Basic abc",
            "Bearerabc",
            "abc",
            "",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    fn principal(first_party: bool, scopes: TokenScopes) -> Principal {
        Principal {
            publisher_id: "acme".into(),
            publisher_type: "organization".into(),
            token_id: None,
            scopes,
            first_party,
            session_login: None,
        }
    }

    fn ns(name: &str, publisher: &str, status: &str) -> NamespaceRow {
        NamespaceRow {
            namespace: name.into(),
            publisher_id: publisher.into(),
            status: status.into(),
            artifact_kinds: vec!["package".into(), "template".into()],
        }
    }

    #[test]
    fn tokens_parse() {
        let id = "123e4567-e89b-12d3-a456-426614174000";
        assert_eq!(
            parse_token(&format!("anip_pat_{id}_abc")),
            Some((id, "abc"))
        );
        assert_eq!(parse_token("anip_pat_nope_abc"), None);
        assert_eq!(parse_token(&format!("anip_pat_{id}_")), None);
        assert_eq!(parse_token("other"), None);
    }

    #[test]
    fn namespace_candidates_are_prefixes() {
        assert_eq!(namespace_candidates("a/b/c"), vec!["a", "a/b", "a/b/c"]);
        assert_eq!(namespace_candidates("a"), vec!["a"]);
    }

    #[test]
    fn ownership_decisions() {
        let everyone = TokenScopes {
            operations: vec!["publish".into()],
            ..Default::default()
        };
        let first = principal(true, TokenScopes::default());
        let token = principal(false, everyone.clone());
        let theirs = OwnerRow {
            publisher_id: "other".into(),
            status: "active".into(),
        };
        let mine = OwnerRow {
            publisher_id: "acme".into(),
            status: "active".into(),
        };
        assert!(decide_publish(&first, "package", "x", Some(&theirs), &[]).is_err());
        assert_eq!(
            decide_publish(&token, "package", "x", Some(&mine), &[]),
            Ok(None)
        );
        assert_eq!(
            decide_publish(&first, "package", "free", None, &[]),
            Ok(None)
        );
        // Publisher tokens need a namespace for new ids.
        assert!(decide_publish(&token, "package", "free", None, &[]).is_err());
        let acme = [ns("acme", "acme", "active")];
        assert_eq!(
            decide_publish(&token, "package", "acme/tool", None, &acme),
            Ok(Some("acme".into()))
        );
        // Someone else's namespace blocks even the first party, at any depth.
        let foreign = [ns("other", "other", "active")];
        assert!(decide_publish(&first, "package", "other/tool", None, &foreign).is_err());
        assert!(decide_publish(&first, "package", "other", None, &foreign).is_err());
        assert_eq!(
            decide_publish(&first, "package", "other-tool", None, &foreign),
            Ok(None)
        );
        // A pending claim by someone else does not block; our own pending one does not grant.
        let pending = [ns("other", "other", "pending_verification")];
        assert_eq!(
            decide_publish(&first, "package", "other/tool", None, &pending),
            Ok(None)
        );
        let own_pending = [ns("acme", "acme", "pending_verification")];
        assert!(decide_publish(&token, "package", "acme/tool", None, &own_pending).is_err());
        // An id-scoped token cannot claim an unowned id outside its publisher's namespaces.
        let id_scoped = principal(
            false,
            TokenScopes {
                operations: vec!["publish".into()],
                package_ids: vec!["loose-id".into()],
                ..Default::default()
            },
        );
        assert!(decide_publish(&id_scoped, "package", "loose-id", None, &[]).is_err());
        assert!(decide_publish(&id_scoped, "package", "acme/other", None, &acme).is_err());
        let scoped_in_ns = principal(
            false,
            TokenScopes {
                operations: vec!["publish".into()],
                package_ids: vec!["acme/tool".into()],
                ..Default::default()
            },
        );
        assert_eq!(
            decide_publish(&scoped_in_ns, "package", "acme/tool", None, &acme),
            Ok(Some("acme".into()))
        );
    }
}
