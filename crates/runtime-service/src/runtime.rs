//! The runtime's shared state and the operations that are not invocation: bearer resolution,
//! token issuance, permissions, audit queries, approval grants, discovery and the manifest.
//! Handlers call these; they know nothing of HTTP.

use std::sync::{Arc, RwLock};

use serde_json::{json, Map, Value};
use signing::gojson::{to_go_json, GoJsonOptions};
use time::OffsetDateTime;

use crate::approval::{self, rfc3339, ApprovalGrant};
use crate::audit::{AuditWriter, NewEntry};
use crate::auth::ApiKeyHashes;
use crate::bearer::{self, StoredChains, VerifiedJwts};
use crate::contract::ControlType;
use crate::db::{self, DbError};
use crate::delegation::{self, Token, TokenRequest};
use crate::failure::{Action, DisclosureLevel, Failure};
use crate::ids;
use crate::issuance::TokenWriter;
use crate::keys::Keys;
use crate::package::Package;

/// The protocol version served.
pub const PROTOCOL: &str = "anip/0.24";

/// Everything a request needs. Cheap to clone (all shared).
#[derive(Clone)]
pub struct Runtime {
    pub pool: store::Pool,
    pub keys: Keys,
    pub package: Arc<Package>,
    pub audit: AuditWriter,
    pub tokens: TokenWriter,
    pub http: crate::backend::client::BackendClient,
    pub api_keys: ApiKeyHashes,
    manifest: Arc<RwLock<Option<SignedManifest>>>,
    verified: Arc<VerifiedJwts>,
    chains: Arc<StoredChains>,
    discovery_cache: Arc<RwLock<DiscoveryCache>>,
}

/// Serialized discovery documents by base URL, with when they were made.
type DiscoveryCache = std::collections::HashMap<String, (std::time::Instant, Arc<Vec<u8>>)>;

/// Who authenticated at `/anip/tokens`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// A bootstrap credential's principal: may issue root tokens.
    Bootstrap(String),
    /// The subject of a presented delegation token: may only delegate.
    Delegate(String),
}

/// The manifest bytes and their detached signature.
#[derive(Clone, Debug)]
pub struct SignedManifest {
    pub body: Arc<Vec<u8>>,
    pub signature: String,
    built_at: OffsetDateTime,
}

/// The stored token a verified JWT stands for, if every trust-relevant claim matches it.
fn check_stored(stored: Option<Token>, claims: &signing::jwt::Claims) -> Result<Token, Failure> {
    match stored {
        Some(token) if token.matches_claims(claims) => Ok(token),
        Some(_) => Err(Failure::new(
            "invalid_token",
            "the token's claims do not match the issued token",
            Action::RequestNewDelegation,
        )),
        None => Err(Failure::new(
            "invalid_token",
            "the token is not known to this service",
            Action::RequestNewDelegation,
        )),
    }
}

/// A database problem as a protocol failure (the client may retry).
pub fn storage_failure(error: &DbError) -> Failure {
    tracing::error!(event = "storage_failed", error = %error, "storage operation failed");
    Failure::new(
        "service_unavailable",
        "the service's storage is unavailable",
        Action::WaitAndRetry,
    )
}

/// The disclosure level for a caller (§6.8): the fixed level, or the policy entry for the
/// token's caller class, else `default`, else redacted.
pub fn disclosure_for(package: &Package, caller_class: Option<&str>) -> DisclosureLevel {
    let settings = &package.disclosure;
    if settings.detail_level != "policy" {
        return DisclosureLevel::parse(&settings.detail_level).unwrap_or(DisclosureLevel::Redacted);
    }
    caller_class
        .and_then(|class| settings.disclosure_policy.get(class))
        .or_else(|| settings.disclosure_policy.get("default"))
        .and_then(|level| DisclosureLevel::parse(level))
        .unwrap_or(DisclosureLevel::Redacted)
}

impl Runtime {
    /// Assembles the state; the audit writer must already run. Starts the token writer, so it
    /// must be called inside a Tokio runtime.
    pub fn new(
        pool: store::Pool,
        keys: Keys,
        package: Package,
        audit: AuditWriter,
        api_keys: ApiKeyHashes,
        http: crate::backend::client::BackendClient,
    ) -> Runtime {
        let tokens = TokenWriter::spawn(pool.clone());
        Runtime {
            pool,
            keys,
            package: Arc::new(package),
            audit,
            tokens,
            http,
            api_keys,
            manifest: Arc::new(RwLock::new(None)),
            verified: Arc::new(VerifiedJwts::default()),
            chains: Arc::new(StoredChains::default()),
            discovery_cache: Arc::new(RwLock::new(DiscoveryCache::new())),
        }
    }

    /// The disclosure level when no token is known.
    pub fn default_disclosure(&self) -> DisclosureLevel {
        disclosure_for(&self.package, None)
    }

    /// Verifies a bearer JWT and returns the stored token it stands for. Signature, audience
    /// and expiry first, then the store: the `jti` must exist and every trust-relevant claim
    /// must equal the stored value.
    pub async fn resolve_bearer(&self, jwt: &str) -> Result<Token, Failure> {
        let claims = self.verify_bearer(jwt)?;
        let token_id = bearer::token_id(&claims).unwrap_or_default();
        let stored = db::tokens::get(&self.pool, token_id)
            .await
            .map_err(|e| storage_failure(&e))?;
        check_stored(stored, &claims)
    }

    /// Like [`Runtime::resolve_bearer`], and also returns the token's delegation chain (root
    /// first, ending with the token), read in the same query; for invocations. The chain read
    /// is reused for up to `bearer::CHAIN_TTL` (see [`crate::bearer`] for why that is sound).
    pub async fn resolve_bearer_chain(
        &self,
        jwt: &str,
    ) -> Result<(Token, Arc<Vec<Token>>), Failure> {
        let claims = self.verify_bearer(jwt)?;
        let token_id = bearer::token_id(&claims).unwrap_or_default();
        let now = std::time::Instant::now();
        let chain = match self.chains.get(token_id, now) {
            Some(chain) => chain,
            None => {
                // A root token (the signed claims name no parent, and the stored record must
                // agree) is its own chain: one row by key instead of the recursive query.
                let root = claims.get("parent_token_id").is_none_or(Value::is_null);
                let chain = if root {
                    db::tokens::get(&self.pool, token_id)
                        .await
                        .map(Vec::from_iter)
                } else {
                    db::tokens::chain(&self.pool, token_id).await
                }
                .map_err(|e| storage_failure(&e))?;
                let chain = Arc::new(chain);
                if chain.last().is_some_and(|t| t.token_id == token_id) {
                    self.chains.insert(token_id, now, chain.clone());
                }
                chain
            }
        };
        let stored = chain.last().filter(|t| t.token_id == token_id).cloned();
        let token = check_stored(stored, &claims)?;
        Ok((token, chain))
    }

    /// The verified claims of a bearer JWT, which must name a token id.
    fn verify_bearer(&self, jwt: &str) -> Result<Arc<signing::jwt::Claims>, Failure> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = self
            .verified
            .verify(&self.keys, jwt, &self.package.service_id, now)
            .map_err(|error| match error {
                signing::SigningError::TokenExpired { .. } => Failure::new(
                    "token_expired",
                    "the delegation token has expired",
                    Action::RequestNewDelegation,
                ),
                _ => Failure::new(
                    "invalid_token",
                    "the bearer token is not a valid delegation token of this service",
                    Action::RequestNewDelegation,
                ),
            })?;
        if bearer::token_id(&claims).is_none() {
            return Err(Failure::new(
                "invalid_token",
                "the token has no jti claim",
                Action::RequestNewDelegation,
            ));
        }
        Ok(claims)
    }

    /// Who is asking for a token at `/anip/tokens`: an ANIP JWT's subject first, else a
    /// bootstrap API key's principal.
    pub async fn authenticate_issuer(&self, bearer: &str) -> Result<Option<Issuer>, Failure> {
        if bearer.matches('.').count() == 2 {
            match self.resolve_bearer(bearer).await {
                Ok(token) => return Ok(Some(Issuer::Delegate(token.subject))),
                Err(failure) if failure.kind == "service_unavailable" => return Err(failure),
                Err(_) => {}
            }
        }
        Ok(self
            .api_keys
            .principal_for(bearer)
            .map(|p| Issuer::Bootstrap(p.to_owned())))
    }

    /// `POST /anip/tokens` after authentication.
    pub async fn issue_token(
        &self,
        issuer: &Issuer,
        request: TokenRequest,
    ) -> Result<Value, Failure> {
        let caller = match issuer {
            Issuer::Bootstrap(principal) => principal.as_str(),
            // A delegation token may only delegate further: otherwise any delegate could mint
            // itself a root token with any scope.
            Issuer::Delegate(_) if request.parent_token.is_none() => {
                return Err(Failure::new(
                    "insufficient_authority",
                    "a delegation token can only issue child tokens (name parent_token); root tokens are issued to bootstrap credentials",
                    Action::RequestNewDelegation,
                )
                .retry(false));
            }
            Issuer::Delegate(subject) => subject.as_str(),
        };
        let now = OffsetDateTime::now_utc();
        let parent = match &request.parent_token {
            None => None,
            Some(parent_id) => {
                let parent = db::tokens::get(&self.pool, parent_id)
                    .await
                    .map_err(|e| storage_failure(&e))?;
                Some(parent.ok_or_else(|| {
                    Failure::new(
                        "invalid_token",
                        // Never the value itself: a caller may have sent a credential (a JWT)
                        // where the token id belongs.
                        "parent token is not known (parent_token names a token_id, never a JWT)",
                        Action::RequestNewDelegation,
                    )
                    .retry(false)
                })?)
            }
        };
        if let Some(capability) = request.capability.as_deref().filter(|c| !c.is_empty()) {
            if self.package.declaration(capability).is_none() {
                return Err(Failure::new(
                    "unknown_capability",
                    format!("capability {capability} is not declared"),
                    Action::CheckManifest,
                )
                .retry(false));
            }
        }
        let token = delegation::build_token(
            request,
            caller,
            parent.as_ref(),
            &self.package.service_id,
            ids::token_id(),
            now,
        )?;
        self.tokens
            .insert(token.clone())
            .await
            .map_err(|e| storage_failure(&e))?;
        let jwt = self
            .keys
            .sign_jwt(&token.claims(&self.package.service_id))
            .map_err(|_| {
                Failure::new(
                    "internal_error",
                    "the token could not be signed",
                    Action::ContactServiceOwner,
                )
            })?;
        let mut response = json!({
            "issued": true,
            "token_id": token.token_id,
            "token": jwt,
            "expires": rfc3339(token.expires_at),
        });
        if let Some(task_id) = &token.purpose.task_id {
            response["task_id"] = json!(task_id);
        }
        if let Some(budget) = &token.constraints.budget {
            response["budget"] = json!(budget);
        }
        metrics::counter!("anip_runtime_tokens_issued_total", "kind" => if token.parent.is_some() { "delegated" } else { "root" }).increment(1);
        Ok(response)
    }

    /// `POST /anip/permissions` (§4.4).
    pub async fn permissions(&self, token: &Token) -> Result<Value, Failure> {
        let chain = db::tokens::chain(&self.pool, &token.token_id)
            .await
            .map_err(|e| storage_failure(&e))?;
        let depth = chain.len() as i64 - 1;
        let root = token.root_principal.as_str();
        let (mut available, mut restricted, mut denied) = (Vec::new(), Vec::new(), Vec::new());
        for decl in &self.package.declarations {
            let bound_here = token.purpose.capability == decl.name;
            if decl.rejects_without(ControlType::NonDelegable)
                && !(token.parent.is_none() && bound_here)
            {
                denied.push(json!({
                    "capability": decl.name,
                    "reason": "the capability can only be invoked by its root principal with a token bound to it",
                    "reason_type": "non_delegable",
                }));
                continue;
            }
            let missing = delegation::missing_scopes(&token.scope, &decl.minimum_scope);
            if !missing.is_empty() {
                restricted.push(json!({
                    "capability": decl.name,
                    "reason": format!("delegation chain lacks scope(s): {}", missing.join(", ")),
                    "reason_type": "insufficient_scope",
                    "grantable_by": root,
                    "unmet_token_requirements": [],
                    "resolution_hint": "request_broader_scope",
                }));
                continue;
            }
            if depth > token.constraints.max_delegation_depth {
                restricted.push(json!({
                    "capability": decl.name,
                    "reason": format!("delegation chain depth {depth} exceeds the allowed {}", token.constraints.max_delegation_depth),
                    "reason_type": "insufficient_delegation_depth",
                    "grantable_by": root,
                    "unmet_token_requirements": [],
                    "resolution_hint": "request_deeper_delegation",
                }));
                continue;
            }
            let mut unmet = Vec::new();
            if decl.rejects_without(ControlType::CostCeiling) && token.constraints.budget.is_none()
            {
                unmet.push("cost_ceiling");
            }
            if decl.rejects_without(ControlType::StrongerDelegationRequired) && !bound_here {
                unmet.push("stronger_delegation_required");
            }
            if !unmet.is_empty() {
                let (reason_type, hint) = if unmet.contains(&"cost_ceiling") {
                    (
                        "unmet_control_requirement",
                        "request_budget_bound_delegation",
                    )
                } else {
                    ("stronger_delegation_required", "request_capability_binding")
                };
                restricted.push(json!({
                    "capability": decl.name,
                    "reason": format!("missing control requirements: {}", unmet.join(", ")),
                    "reason_type": reason_type,
                    "grantable_by": root,
                    "unmet_token_requirements": unmet,
                    "resolution_hint": hint,
                }));
                continue;
            }
            let matched: Vec<&str> = decl
                .minimum_scope
                .iter()
                .filter_map(|required| {
                    token
                        .scope
                        .iter()
                        .find(|held| delegation::scope_satisfies(held, required))
                })
                .map(String::as_str)
                .collect();
            let mut constraints = Map::new();
            if let Some(ceiling) = matched
                .iter()
                .filter_map(|s| delegation::scope_ceiling(s))
                .reduce(f64::min)
            {
                constraints.insert("budget_remaining".into(), json!(ceiling));
                constraints.insert("currency".into(), json!("USD"));
            }
            if let Some(budget) = &token.constraints.budget {
                constraints.insert("budget_remaining".into(), json!(budget.max_amount));
                constraints.insert("currency".into(), json!(budget.currency));
            }
            available.push(json!({"capability": decl.name, "scope_match": matched.join(", "), "constraints": constraints}));
        }
        Ok(json!({"available": available, "restricted": restricted, "denied": denied}))
    }

    /// `POST /anip/audit`: entries of the caller's root principal, newest first.
    pub async fn query_audit(
        &self,
        token: &Token,
        mut query: db::audit::Query,
        raw_since: Option<String>,
    ) -> Result<Value, Failure> {
        query.root_principal = token.root_principal.clone();
        query.limit = query.limit.clamp(1, 1000);
        let rows = db::audit::query(&self.pool, &query)
            .await
            .map_err(|e| storage_failure(&e))?;
        let entries: Vec<Value> = rows
            .iter()
            .map(|(canonical, signature)| crate::audit::entry_json(canonical, signature))
            .collect();
        Ok(json!({
            "entries": entries,
            "count": entries.len(),
            "root_principal": token.root_principal,
            "capability_filter": query.capability,
            "since_filter": raw_since,
        }))
    }

    /// `POST /anip/approval_grants` (§4.9).
    pub async fn issue_grant(
        &self,
        approver: &Token,
        body: approval::IssueRequest,
    ) -> Result<Value, Failure> {
        // Whole seconds: the signed times must survive storage (microseconds) unchanged.
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let request = db::approvals::get_request(&self.pool, &body.approval_request_id)
            .await
            .map_err(|e| storage_failure(&e))?
            .ok_or_else(|| {
                Failure::new(
                    "approval_request_not_found",
                    format!("unknown approval_request_id {}", body.approval_request_id),
                    Action::RevalidateState,
                )
                .retry(false)
            })?;
        let (expires_in, max_uses) =
            approval::check_issuance(&request, &body, &approver.scope, now)?;
        let approver_principal =
            json!({"subject": approver.subject, "root_principal": approver.root_principal});
        let mut grant = ApprovalGrant {
            grant_id: ids::grant_id(),
            approval_request_id: request.approval_request_id.clone(),
            grant_type: body.grant_type.as_str().to_owned(),
            capability: request.capability.clone(),
            scope: request.scope.clone(),
            approved_parameters_digest: request.requested_parameters_digest.clone(),
            preview_digest: request.preview_digest.clone(),
            requester: request.requester.clone(),
            approver: approver_principal,
            issued_at: now,
            expires_at: now + time::Duration::seconds(expires_in),
            max_uses,
            use_count: 0,
            session_id: body.session_id.clone(),
            signature: String::new(),
        };
        let content = to_go_json(&grant.signed_content(), GoJsonOptions::DIGEST);
        grant.signature = self.keys.sign_detached(content.as_bytes()).map_err(|_| {
            Failure::new(
                "internal_error",
                "the grant could not be signed",
                Action::ContactServiceOwner,
            )
        })?;
        match db::approvals::approve_and_insert_grant(&self.pool, &grant, now)
            .await
            .map_err(|e| storage_failure(&e))?
        {
            db::approvals::ApproveOutcome::Granted => {}
            db::approvals::ApproveOutcome::Expired => {
                return Err(Failure::new(
                    "approval_request_expired",
                    "the approval request has expired",
                    Action::RevalidateState,
                )
                .retry(false));
            }
            db::approvals::ApproveOutcome::AlreadyDecided => {
                return Err(Failure::new(
                    "approval_request_already_decided",
                    "the approval request was already decided",
                    Action::RevalidateState,
                )
                .retry(false));
            }
            db::approvals::ApproveOutcome::NotFound => {
                return Err(Failure::new(
                    "approval_request_not_found",
                    "the approval request does not exist",
                    Action::RevalidateState,
                )
                .retry(false));
            }
        }
        let side_effect = self
            .package
            .declaration(&grant.capability)
            .map(|d| d.side_effect.kind);
        let audit = NewEntry {
            capability: grant.capability.clone(),
            token_id: Some(approver.token_id.clone()),
            issuer: Some(approver.issuer.clone()),
            subject: Some(approver.subject.clone()),
            root_principal: Some(
                request
                    .requester
                    .get("root_principal")
                    .and_then(Value::as_str)
                    .unwrap_or(&approver.root_principal)
                    .to_owned(),
            ),
            success: true,
            side_effect,
            parent_invocation_id: request.parent_invocation_id.clone(),
            approval_request_id: Some(grant.approval_request_id.clone()),
            approval_grant_id: Some(grant.grant_id.clone()),
            entry_type: Some("approval_grant_issued".into()),
            result_summary: Some(json!({
                "grant_type": grant.grant_type,
                "approver_principal": approver.subject,
                "requester_principal": request.requester,
                "scope": grant.scope,
            })),
            ..NewEntry::default()
        };
        // The grant is committed; an audit failure is logged by the writer and must not undo it.
        let _ = self.audit.record(audit).await;
        Ok(grant.to_json())
    }

    /// The signed manifest, rebuilt hourly (so `issued_at`/`expires_at` stay current).
    pub fn manifest(&self) -> Result<SignedManifest, Failure> {
        let now = OffsetDateTime::now_utc();
        if let Ok(guard) = self.manifest.read() {
            if let Some(manifest) = guard
                .as_ref()
                .filter(|m| now - m.built_at < time::Duration::hours(1))
            {
                return Ok(manifest.clone());
            }
        }
        let body = to_go_json(&self.manifest_value(now), GoJsonOptions::DIGEST).into_bytes();
        let signature = self.keys.sign_detached(&body).map_err(|_| {
            Failure::new(
                "internal_error",
                "the manifest could not be signed",
                Action::ContactServiceOwner,
            )
        })?;
        let manifest = SignedManifest {
            body: Arc::new(body),
            signature,
            built_at: now,
        };
        if let Ok(mut guard) = self.manifest.write() {
            *guard = Some(manifest.clone());
        }
        Ok(manifest)
    }

    fn manifest_value(&self, now: OffsetDateTime) -> Value {
        let package = &self.package;
        let capabilities: Map<String, Value> = package
            .declarations
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    serde_json::to_value(d).unwrap_or(Value::Null),
                )
            })
            .collect();
        let capabilities_digest = signing::digest_value(&Value::Object(capabilities.clone()));
        json!({
            "protocol": PROTOCOL,
            "profile": profile(),
            "capabilities": capabilities,
            "manifest_metadata": {
                "version": package.manifest_version,
                "sha256": capabilities_digest,
                "issued_at": rfc3339(now),
                "expires_at": rfc3339(now + time::Duration::hours(24)),
                "package_id": package.package_id,
                "package_version": package.package_version,
                "definition_digest": package.definition_digest,
            },
            "service_identity": {"id": package.service_id, "jwks_uri": "/.well-known/jwks.json", "issuer_mode": "first-party"},
            "trust": {
                "level": package.trust.level,
                "anchoring": package.trust.anchoring.as_ref().map(|a| json!({"cadence": a.cadence, "max_lag": a.max_lag, "sink": a.sink})),
                "policies": package.trust.anchoring.as_ref().map(|_| json!([
                    {"trigger": {"type": "cadence_elapsed"}, "action": "produce_checkpoint"},
                    {"trigger": {"type": "entry_count_exceeded"}, "action": "produce_checkpoint"},
                ])),
            },
        })
    }

    /// `GET /.well-known/anip` serialized, as generated for `base_url` within the last second
    /// (the document changes only in `generated_at`; it advertises a TTL of an hour).
    pub fn discovery_document(&self, base_url: &str) -> Arc<Vec<u8>> {
        let now = std::time::Instant::now();
        if let Ok(cache) = self.discovery_cache.read() {
            if let Some((at, body)) = cache.get(base_url) {
                if now.saturating_duration_since(*at) < std::time::Duration::from_secs(1) {
                    return body.clone();
                }
            }
        }
        let body = Arc::new(serde_json::to_vec(&self.discovery(base_url)).unwrap_or_default());
        if let Ok(mut cache) = self.discovery_cache.write() {
            // The base URL comes from the request's Host header: keep the map small.
            if cache.len() >= 16 {
                cache.clear();
            }
            cache.insert(base_url.to_owned(), (now, body.clone()));
        }
        body
    }

    /// `GET /.well-known/anip`.
    pub fn discovery(&self, base_url: &str) -> Value {
        let package = &self.package;
        let capabilities: Map<String, Value> = package
            .declarations
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    json!({
                        "description": d.description,
                        "side_effect": d.side_effect.kind.as_str(),
                        "minimum_scope": d.minimum_scope,
                        "financial": d.is_financial(),
                        "contract": d.contract_version,
                    }),
                )
            })
            .collect();
        let anchored = package.trust.is_anchored();
        let anchoring = package.trust.anchoring.as_ref();
        let disclosure = &package.disclosure;
        json!({"anip_discovery": {
            "protocol": PROTOCOL,
            "compliance": "anip-compliant",
            "base_url": base_url,
            "profile": profile(),
            "auth": {"delegation_token_required": true, "supported_formats": ["anip-v1"], "minimum_scope_for_discovery": "none"},
            "capabilities": capabilities,
            "trust_level": package.trust.level,
            "posture": {
                "audit": {"enabled": true, "signed": true, "queryable": true, "retention": "P365D", "retention_enforced": true},
                "lineage": {"invocation_id": true, "client_reference_id": {"supported": true, "max_length": 256, "opaque": true, "propagation": "bounded"}},
                "metadata_policy": {"bounded_lineage": true, "freeform_context": false, "downstream_propagation": "minimal"},
                "failure_disclosure": {
                    "detail_level": disclosure.detail_level,
                    "caller_classes": (disclosure.detail_level == "policy").then(|| disclosure.disclosure_policy.keys().cloned().collect::<Vec<_>>()),
                },
                "anchoring": {
                    "enabled": anchored,
                    "cadence": anchoring.map(|a| a.cadence.clone()),
                    "max_lag": anchoring.and_then(|a| a.max_lag),
                    "proofs_available": anchored,
                },
            },
            "endpoints": {
                "manifest": "/anip/manifest",
                "graph": "/anip/graph/{capability}",
                "permissions": "/anip/permissions",
                "invoke": "/anip/invoke/{capability}",
                "tokens": "/anip/tokens",
                "audit": "/anip/audit",
                "checkpoints": "/anip/checkpoints",
                "approval_grants": "/anip/approval_grants",
                "jwks": "/.well-known/jwks.json",
            },
            "metadata": {
                "service_name": package.service_id,
                "package_id": package.package_id,
                "package_version": package.package_version,
                "generated_at": rfc3339(OffsetDateTime::now_utc()),
                "ttl": "PT1H",
            },
        }})
    }

    /// `GET /anip/graph/{capability}`.
    pub fn graph(&self, capability: &str) -> Option<Value> {
        let decl = self.package.declaration(capability)?;
        Some(json!({
            "capability": decl.name,
            "requires": decl.requires,
            "composes_with": decl.composes_with,
            "refresh_via": decl.refresh_via,
            "verify_via": decl.verify_via,
            "cross_service_contract": decl.cross_service_contract,
        }))
    }
}

fn profile() -> Value {
    json!({"core": "1.0", "cost": "1.0", "capability_graph": "1.0", "state_session": "1.0", "observability": "1.0"})
}
