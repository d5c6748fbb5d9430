//! The conformance checks. Each one reads what the service declares (discovery and the signed
//! manifest) and exercises it, so the suite runs against any ANIP service; a check whose feature
//! the service does not declare is skipped, never passed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use signing::es256::Es256PublicKey;
use signing::gojson::{to_go_json, GoJsonOptions};
use signing::{jws, jwt, Jwks};

use crate::client::{Http, Response};
use crate::merkle::inclusion_root;
use crate::{CheckResult, Report, Status, Target};

/// The outcome of a check body: `Ok(Pass or Skip, detail)`, or `Err(detail)` for a failure.
type Outcome = Result<(Status, String), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn pass(detail: impl Into<String>) -> Outcome {
    Ok((Status::Pass, detail.into()))
}

fn skip(detail: impl Into<String>) -> Outcome {
    Ok((Status::Skip, detail.into()))
}

const RECOVERY_CLASSES: [&str; 6] = [
    "retry_now",
    "wait_then_retry",
    "refresh_then_retry",
    "redelegation_then_retry",
    "revalidate_then_retry",
    "terminal",
];

/// Checks the failure invariants (type, detail, resolution with a canonical recovery class,
/// retry; terminal implies no retry) and returns the failure type.
pub(crate) fn failure_type(response: &Response) -> Result<String, String> {
    let body = &response.body;
    ensure!(
        body["success"] == false,
        "expected a failure, got {}",
        response.summary()
    );
    let failure = &body["failure"];
    for key in ["type", "detail", "resolution", "retry"] {
        ensure!(
            failure.get(key).is_some(),
            "failure lacks {key}: {}",
            response.summary()
        );
    }
    ensure!(
        failure["retry"].is_boolean(),
        "failure.retry is not a boolean: {}",
        response.summary()
    );
    let class = failure["resolution"]["recovery_class"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        RECOVERY_CLASSES.contains(&class),
        "recovery_class {class:?} is not canonical: {}",
        response.summary()
    );
    ensure!(
        failure["resolution"]["action"].is_string(),
        "resolution.action missing: {}",
        response.summary()
    );
    if class == "terminal" {
        ensure!(
            failure["retry"] == false,
            "a terminal failure allows retry: {}",
            response.summary()
        );
    }
    Ok(failure["type"].as_str().unwrap_or_default().to_owned())
}

/// Expects `response` to be a failure of `expected_type` with `status`.
fn expect_failure(response: &Response, status: u16, expected_type: &str) -> Result<(), String> {
    let found = failure_type(response)?;
    ensure!(
        response.status == status && found == expected_type,
        "expected {status} {expected_type}, got {}",
        response.summary()
    );
    Ok(())
}

/// A capability as the manifest declares it.
#[derive(Clone)]
struct Capability {
    name: String,
    declaration: Value,
}

impl Capability {
    fn scope(&self) -> Value {
        self.declaration["minimum_scope"].clone()
    }
    fn side_effect(&self) -> &str {
        self.declaration["side_effect"]["type"]
            .as_str()
            .unwrap_or_default()
    }
    fn financial(&self) -> Option<&Value> {
        self.declaration["cost"]["financial"]
            .as_object()
            .map(|_| &self.declaration["cost"]["financial"])
    }
    fn bindings(&self) -> Vec<Value> {
        self.declaration["requires_binding"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    fn control_types(&self) -> Vec<String> {
        self.declaration["control_requirements"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["type"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A token the runtime issued.
#[derive(Clone)]
struct Issued {
    token_id: String,
    jwt: String,
}

/// What the checks share: the client, what the service declared, and what earlier checks left.
struct Ctx<'a> {
    target: &'a Target,
    http: Http,
    discovery: Value,
    manifest: Value,
    jwks: Option<Jwks>,
    capabilities: Vec<Capability>,
    /// A successful invocation: `(invocation_id, jwt of its caller)`.
    invocation: Option<(String, String)>,
    /// Its audit entry, once the audit check found it.
    audit_entry: Option<Value>,
}

pub(crate) async fn run_all(target: &Target) -> Report {
    let mut report = Report::default();
    let http = match Http::new(&target.base_url) {
        Ok(http) => http,
        Err(e) => {
            report.checks.push(CheckResult {
                name: "discovery",
                status: Status::Fail,
                detail: e.to_string(),
            });
            return report;
        }
    };
    let mut ctx = Ctx {
        target,
        http,
        discovery: Value::Null,
        manifest: Value::Null,
        jwks: None,
        capabilities: Vec::new(),
        invocation: None,
        audit_entry: None,
    };
    macro_rules! check {
        ($name:literal, $body:ident) => {{
            let outcome = $body(&mut ctx).await;
            let (status, detail) = match outcome {
                Ok((status, detail)) => (status, detail),
                Err(detail) => (Status::Fail, detail),
            };
            report.checks.push(CheckResult {
                name: $name,
                status,
                detail,
            });
        }};
    }
    check!("discovery", discovery);
    check!("jwks", jwks);
    check!("manifest_signature", manifest_signature);
    check!("capability_graph", capability_graph);
    check!("token_issuance", token_issuance);
    check!("delegation_narrowing", delegation_narrowing);
    check!("permissions", permissions);
    check!("invoke_success", invoke_success);
    check!("failure_shapes", failure_shapes);
    check!("budget_exceeded", budget_exceeded);
    check!("binding_max_age", binding_max_age);
    check!("non_delegable", non_delegable);
    check!("audit_query", audit_query);
    check!("checkpoint_inclusion_proof", checkpoint_inclusion_proof);
    report
}

impl Ctx<'_> {
    fn bootstrap(&self) -> &str {
        self.target.bootstrap_bearer.expose()
    }

    fn service_id(&self) -> String {
        self.manifest["service_identity"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn sample(&self, capability: &str) -> Value {
        match &self.target.sample_inputs[capability] {
            Value::Object(map) => Value::Object(map.clone()),
            _ => json!({}),
        }
    }

    fn has_sample(&self, capability: &str) -> bool {
        self.target.sample_inputs[capability].is_object()
    }

    fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.name == name)
    }

    fn key(&self, key_use: &str) -> Result<Es256PublicKey, String> {
        let jwks = self
            .jwks
            .as_ref()
            .ok_or("no JWKS (the jwks check failed)")?;
        let jwk = jwks
            .keys
            .iter()
            .find(|k| k.key_use.as_deref() == Some(key_use))
            .ok_or(format!("JWKS has no use:{key_use} key"))?;
        Es256PublicKey::from_jwk(jwk).map_err(|e| format!("use:{key_use} key: {e}"))
    }

    async fn token_request(&self, bearer: &str, body: Value) -> Response {
        self.http
            .post("/anip/tokens", Some(bearer), Some(&body))
            .await
    }

    /// A token issued to the bootstrap principal (or a delegate, with `parent_token`).
    async fn issue(&self, body: Value) -> Result<Issued, String> {
        let response = self.token_request(self.bootstrap(), body.clone()).await;
        ensure!(
            response.status == 200 && response.body["issued"] == true,
            "token request {body} refused: {}",
            response.summary()
        );
        Ok(Issued {
            token_id: response.body["token_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            jwt: response.body["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// A root token bound to `capability` with its minimum scope, plus `extra` members.
    async fn token_for(&self, capability: &Capability, extra: Value) -> Result<Issued, String> {
        let mut body = json!({"scope": capability.scope(), "capability": capability.name});
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
            map.extend(extra);
        }
        self.issue(body).await
    }

    async fn invoke(&self, jwt: &str, capability: &str, body: Value) -> Response {
        self.http
            .post(
                &format!("/anip/invoke/{capability}"),
                Some(jwt),
                Some(&body),
            )
            .await
    }

    /// A fresh bound value for `binding`: the source capability invoked with its sample inputs,
    /// and the first object in its result that carries `issued_at` (the protocol's binding age).
    async fn fresh_binding(&self, binding: &Value) -> Result<Value, String> {
        let source = binding["source_capability"]
            .as_str()
            .ok_or("binding without source_capability")?;
        let capability = self
            .capability(source)
            .ok_or(format!("binding source {source} is not declared"))?
            .clone();
        let token = self.token_for(&capability, json!({})).await?;
        let response = self
            .invoke(
                &token.jwt,
                source,
                json!({"parameters": self.sample(source)}),
            )
            .await
            .require_status(200, format_args!("invoking binding source {source}"))?;
        find_bound_value(&response.body["result"])
            .ok_or(format!("{source} returned no value with issued_at"))
    }
}

fn find_bound_value(value: &Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.get("issued_at").is_some_and(Value::is_number) {
                return Some(value.clone());
            }
            map.values().find_map(find_bound_value)
        }
        Value::Array(items) => items.iter().find_map(find_bound_value),
        _ => None,
    }
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds in an ISO 8601 duration such as `PT15M`, `PT1H30M`, `P1D` (no years or months).
fn iso_duration_seconds(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut total = 0i64;
    let mut number = String::new();
    for c in days.chars() {
        match c {
            '0'..='9' => number.push(c),
            'D' => total += number.parse::<i64>().ok()? * 86_400,
            'W' => total += number.parse::<i64>().ok()? * 604_800,
            _ => return None,
        }
        if !c.is_ascii_digit() {
            number.clear();
        }
    }
    for c in time.chars() {
        let unit = match c {
            '0'..='9' => {
                number.push(c);
                continue;
            }
            'H' => 3_600,
            'M' => 60,
            'S' => 1,
            _ => return None,
        };
        total += number.parse::<i64>().ok()? * unit;
        number.clear();
    }
    Some(total)
}

const DISCOVERY_ENDPOINTS: [&str; 9] = [
    "manifest",
    "graph",
    "permissions",
    "invoke",
    "tokens",
    "audit",
    "checkpoints",
    "approval_grants",
    "jwks",
];

async fn discovery(ctx: &mut Ctx<'_>) -> Outcome {
    let response = ctx
        .http
        .get("/.well-known/anip")
        .await
        .require_status(200, "GET /.well-known/anip")?;
    let doc = &response.body["anip_discovery"];
    ensure!(doc.is_object(), "no anip_discovery object");
    let protocol = doc["protocol"].as_str().unwrap_or_default();
    ensure!(protocol.starts_with("anip/"), "protocol {protocol:?}");
    ensure!(doc["base_url"].is_string(), "base_url missing");
    let auth = &doc["auth"];
    ensure!(
        auth["delegation_token_required"] == true,
        "auth.delegation_token_required is not true"
    );
    ensure!(
        auth["supported_formats"]
            .as_array()
            .is_some_and(|f| f.iter().any(|v| v == "anip-v1")),
        "auth.supported_formats lacks anip-v1"
    );
    let capabilities = doc["capabilities"]
        .as_object()
        .filter(|c| !c.is_empty())
        .ok_or("no capabilities")?;
    for (name, cap) in capabilities {
        ensure!(cap["description"].is_string(), "{name}: no description");
        ensure!(
            cap["side_effect"].is_string() || cap["side_effect"].is_object(),
            "{name}: no side_effect"
        );
        ensure!(
            cap["minimum_scope"].is_array(),
            "{name}: minimum_scope is not a list"
        );
        ensure!(
            cap["financial"].is_boolean(),
            "{name}: financial is not a boolean"
        );
    }
    for endpoint in DISCOVERY_ENDPOINTS {
        ensure!(
            doc["endpoints"][endpoint].is_string(),
            "endpoints.{endpoint} missing"
        );
    }
    ensure!(doc["trust_level"].is_string(), "trust_level missing");
    ensure!(doc["posture"].is_object(), "posture missing");
    let detail = format!(
        "{protocol}, {} capabilities, trust {}",
        capabilities.len(),
        doc["trust_level"].as_str().unwrap_or_default()
    );
    ctx.discovery = doc.clone();
    pass(detail)
}

async fn jwks(ctx: &mut Ctx<'_>) -> Outcome {
    let response = ctx
        .http
        .get("/.well-known/jwks.json")
        .await
        .require_status(200, "GET jwks")?;
    let set: Jwks =
        serde_json::from_value(response.body.clone()).map_err(|e| format!("not a JWKS: {e}"))?;
    for key_use in ["sig", "audit"] {
        let jwk = set
            .keys
            .iter()
            .find(|k| k.key_use.as_deref() == Some(key_use))
            .ok_or(format!("no use:{key_use} key"))?;
        ensure!(!jwk.kid.is_empty(), "use:{key_use} key has no kid");
        let key = Es256PublicKey::from_jwk(jwk)
            .map_err(|e| format!("use:{key_use} key is not EC P-256: {e}"))?;
        ensure!(
            key.kid() == jwk.kid,
            "use:{key_use} kid {} is not the SPKI thumbprint {}",
            jwk.kid,
            key.kid()
        );
    }
    let count = set.keys.len();
    ctx.jwks = Some(set);
    pass(format!(
        "{count} ES256 keys (sig and audit), kids match their SPKI"
    ))
}

const DECLARATION_FIELDS: [&str; 10] = [
    "name",
    "description",
    "contract_version",
    "inputs",
    "output",
    "side_effect",
    "minimum_scope",
    "cost",
    "requires",
    "response_modes",
];

async fn manifest_signature(ctx: &mut Ctx<'_>) -> Outcome {
    let response = ctx
        .http
        .get("/anip/manifest")
        .await
        .require_status(200, "GET manifest")?;
    let signature = response
        .header("x-anip-signature")
        .ok_or("no X-ANIP-Signature header")?
        .to_owned();
    let header = jws::decode_header(&signature).map_err(|e| format!("signature header: {e}"))?;
    let kid = header.kid.ok_or("signature has no kid")?;
    let jwks = ctx.jwks.as_ref().ok_or("no JWKS (the jwks check failed)")?;
    let jwk = jwks
        .find(&kid)
        .ok_or(format!("signature kid {kid} is not in the JWKS"))?;
    ensure!(
        jwk.key_use.as_deref() == Some("sig"),
        "manifest signed with a use:{:?} key",
        jwk.key_use
    );
    let key = Es256PublicKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    jws::verify_detached(&key, &response.raw, &signature)
        .map_err(|e| format!("signature does not verify over the served bytes: {e}"))?;
    let mut tampered = response.raw.clone();
    if let Some(byte) = tampered.get_mut(1) {
        *byte ^= 1;
    }
    ensure!(
        jws::verify_detached(&key, &tampered, &signature).is_err(),
        "a tampered manifest still verifies"
    );
    let manifest = response.body.clone();
    for key in [
        "capabilities",
        "manifest_metadata",
        "protocol",
        "service_identity",
        "trust",
    ] {
        ensure!(manifest.get(key).is_some(), "manifest lacks {key}");
    }
    let declared = manifest["capabilities"]
        .as_object()
        .ok_or("manifest capabilities is not an object")?;
    let mut capabilities = Vec::new();
    for (name, declaration) in declared {
        for field in DECLARATION_FIELDS {
            ensure!(declaration.get(field).is_some(), "{name} lacks {field}");
        }
        capabilities.push(Capability {
            name: name.clone(),
            declaration: declaration.clone(),
        });
    }
    if let Some(discovered) = ctx.discovery["capabilities"].as_object() {
        let mut a: Vec<&String> = discovered.keys().collect();
        let mut b: Vec<&String> = declared.keys().collect();
        a.sort();
        b.sort();
        ensure!(a == b, "discovery lists {a:?}, the manifest {b:?}");
    }
    ensure!(
        manifest["service_identity"]["id"].is_string(),
        "service_identity.id missing"
    );
    let count = declared.len();
    ctx.capabilities = capabilities;
    ctx.manifest = manifest;
    pass(format!(
        "ES256 detached JWS (kid {kid}) verifies over the exact bytes; {count} declarations complete"
    ))
}

async fn capability_graph(ctx: &mut Ctx<'_>) -> Outcome {
    ensure!(
        !ctx.capabilities.is_empty(),
        "no capabilities (manifest check failed)"
    );
    for capability in &ctx.capabilities {
        let response = ctx
            .http
            .get(&format!("/anip/graph/{}", capability.name))
            .await;
        ensure!(
            response.status == 200 && response.body["capability"] == capability.name.as_str(),
            "graph of {}: {}",
            capability.name,
            response.summary()
        );
        ensure!(
            response.body["requires"].is_array() && response.body["composes_with"].is_array(),
            "graph of {} lacks requires/composes_with",
            capability.name
        );
    }
    let missing = ctx
        .http
        .get("/anip/graph/no-such-capability-conformance")
        .await;
    expect_failure(&missing, 404, "not_found")?;
    pass(format!(
        "{} graphs; an unknown capability is 404 not_found",
        ctx.capabilities.len()
    ))
}

async fn token_issuance(ctx: &mut Ctx<'_>) -> Outcome {
    let capability = ctx.capabilities.first().cloned().ok_or("no capabilities")?;
    let body = json!({"scope": capability.scope(), "capability": capability.name});
    let anonymous = ctx.http.post("/anip/tokens", None, Some(&body)).await;
    expect_failure(&anonymous, 401, "authentication_required")?;
    let wrong = ctx
        .token_request("conformance-wrong-credential", body.clone())
        .await;
    expect_failure(&wrong, 401, "authentication_required")?;

    let response = ctx
        .token_request(ctx.bootstrap(), body)
        .await
        .require_status(200, "bootstrap token")?;
    let issued = &response.body;
    ensure!(issued["issued"] == true, "issued is not true");
    let token_id = issued["token_id"].as_str().unwrap_or_default();
    ensure!(
        token_id.len() == 17
            && token_id.starts_with("anip-")
            && token_id[5..].bytes().all(|b| b.is_ascii_hexdigit()),
        "token_id {token_id:?} is not anip-<12 hex>"
    );
    ensure!(
        issued["task_id"] == format!("task-{token_id}").as_str(),
        "task_id {} is not task-<token_id>",
        issued["task_id"]
    );
    ensure!(issued["expires"].is_string(), "expires missing");
    let jwks = ctx.jwks.as_ref().ok_or("no JWKS")?;
    let service_id = ctx.service_id();
    let claims = jwt::verify_with_jwks(
        jwks,
        issued["token"].as_str().unwrap_or_default(),
        &jwt::Validation::new().with_audience(service_id.clone()),
    )
    .map_err(|e| format!("the token does not verify against the JWKS: {e}"))?;
    ensure!(
        claims.get("jti").and_then(Value::as_str) == Some(token_id),
        "jti is not the token_id"
    );
    ensure!(
        claims.get("sub") == claims.get("root_principal")
            && claims.get("sub").is_some_and(Value::is_string),
        "a root token's sub must be its root_principal"
    );
    ensure!(
        claims.get("parent_token_id") == Some(&Value::Null),
        "a root token has a parent_token_id"
    );
    ensure!(
        claims.get("capability").and_then(Value::as_str) == Some(capability.name.as_str()),
        "capability claim is not {}",
        capability.name
    );
    pass(format!(
        "401 authentication_required without or with a wrong credential; {token_id} verifies (aud {service_id})"
    ))
}

async fn delegation_narrowing(ctx: &mut Ctx<'_>) -> Outcome {
    let capability = ctx
        .capabilities
        .iter()
        .find(|c| {
            c.scope().as_array().is_some_and(|s| s.len() == 1)
                && !c.control_types().iter().any(|t| t == "non_delegable")
        })
        .cloned()
        .ok_or("no capability with a single minimum scope")?;
    let scope = capability.scope()[0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The root holds the scope's parent (`travel` for `travel.book`) when it has one, so the
    // child's scope is a real narrowing.
    let parent_scope = scope
        .rsplit_once('.')
        .map_or(scope.clone(), |(p, _)| p.to_owned());
    let root = ctx
        .issue(
            json!({"scope": [parent_scope], "capability": capability.name,
            "budget": {"currency": "USD", "max_amount": 500}}),
        )
        .await?;
    let child = |extra: Value| {
        let mut body = json!({"scope": [scope], "capability": capability.name,
            "parent_token": root.token_id, "subject": "agent:conformance-delegate"});
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
            map.extend(extra);
        }
        body
    };
    let narrowed = ctx
        .token_request(ctx.bootstrap(), child(json!({})))
        .await
        .require_status(200, "a narrowing child was refused")?;
    ensure!(
        narrowed.body["budget"]["max_amount"].as_f64() == Some(500.0),
        "the child did not inherit the parent's budget: {}",
        narrowed.summary()
    );
    let claims = jwt::decode_unverified(narrowed.body["token"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?
        .1;
    ensure!(
        claims.get("parent_token_id").and_then(Value::as_str) == Some(root.token_id.as_str()),
        "child parent_token_id is not the parent's token_id"
    );

    let escalated = ctx
        .token_request(
            ctx.bootstrap(),
            child(json!({"scope": ["conformance-unrelated.scope"]})),
        )
        .await;
    expect_failure(&escalated, 400, "scope_escalation")?;
    let richer = ctx
        .token_request(
            ctx.bootstrap(),
            child(json!({"budget": {"currency": "USD", "max_amount": 600}})),
        )
        .await;
    expect_failure(&richer, 400, "budget_exceeded")?;
    let other_currency = ctx
        .token_request(
            ctx.bootstrap(),
            child(json!({"budget": {"currency": "EUR", "max_amount": 10}})),
        )
        .await;
    expect_failure(&other_currency, 400, "budget_currency_mismatch")?;

    // The delegate authenticates with its own JWT to delegate further, and cannot mint a root.
    let delegate_jwt = narrowed.body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.token_request(
        &delegate_jwt,
        json!({"scope": [scope], "capability": capability.name,
            "parent_token": narrowed.body["token_id"]}),
    )
    .await
    .require_status(200, "the delegate could not delegate further")?;
    let minted = ctx
        .token_request(&delegate_jwt, json!({"scope": [parent_scope]}))
        .await;
    expect_failure(&minted, 403, "insufficient_authority")?;
    pass(format!(
        "{parent_scope} → {scope}: budget inherited; scope_escalation, budget_exceeded, \
         budget_currency_mismatch, insufficient_authority as specified"
    ))
}

async fn permissions(ctx: &mut Ctx<'_>) -> Outcome {
    let capability = ctx.capabilities.first().cloned().ok_or("no capabilities")?;
    let token = ctx.token_for(&capability, json!({})).await?;
    let response = ctx
        .http
        .post("/anip/permissions", Some(&token.jwt), None)
        .await
        .require_status(200, "permissions")?;
    let body = &response.body;
    for bucket in ["available", "restricted", "denied"] {
        ensure!(body[bucket].is_array(), "{bucket} is not a list");
    }
    let names = |bucket: &str| -> Vec<String> {
        body[bucket]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|e| e["capability"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    ensure!(
        names("available").contains(&capability.name),
        "{} is not available to a token with its minimum scope",
        capability.name
    );
    let total = names("available").len() + names("restricted").len() + names("denied").len();
    ensure!(
        total == ctx.capabilities.len(),
        "permissions cover {total} of {} capabilities",
        ctx.capabilities.len()
    );
    for entry in body["restricted"].as_array().into_iter().flatten() {
        for key in ["reason", "reason_type", "resolution_hint"] {
            ensure!(
                entry.get(key).is_some(),
                "restricted entry lacks {key}: {entry}"
            );
        }
    }
    for entry in body["denied"].as_array().into_iter().flatten() {
        ensure!(
            entry["reason_type"] == "non_delegable",
            "denied holds something other than non_delegable: {entry}"
        );
    }
    pass(format!(
        "{} available, {} restricted, {} denied",
        names("available").len(),
        names("restricted").len(),
        names("denied").len()
    ))
}

/// A read capability that needs nothing but its parameters.
fn plain_read(ctx: &Ctx<'_>) -> Option<Capability> {
    let plain = |c: &&Capability| {
        c.side_effect() == "read"
            && c.bindings().is_empty()
            && c.control_types().is_empty()
            && c.financial().is_none()
    };
    ctx.capabilities
        .iter()
        .filter(plain)
        .find(|c| ctx.has_sample(&c.name))
        .or_else(|| ctx.capabilities.iter().find(plain))
        .cloned()
}

async fn invoke_success(ctx: &mut Ctx<'_>) -> Outcome {
    let Some(capability) = plain_read(ctx) else {
        return skip("no read capability without bindings or controls");
    };
    let token = ctx.token_for(&capability, json!({})).await?;
    let response = ctx
        .invoke(
            &token.jwt,
            &capability.name,
            json!({"parameters": ctx.sample(&capability.name), "client_reference_id": "conformance-ref-1"}),
        )
        .await;
    ensure!(
        response.status == 200 && response.body["success"] == true,
        "invoke {}: {}",
        capability.name,
        response.summary()
    );
    let invocation_id = response.body["invocation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        invocation_id.len() == 16
            && invocation_id.starts_with("inv-")
            && invocation_id[4..].bytes().all(|b| b.is_ascii_hexdigit()),
        "invocation_id {invocation_id:?} is not inv-<12 hex>"
    );
    ensure!(
        response.body["client_reference_id"] == "conformance-ref-1",
        "client_reference_id not echoed"
    );
    ensure!(response.body.get("result").is_some(), "no result");
    for echo in ["task_id", "parent_invocation_id", "upstream_service"] {
        ensure!(response.body.get(echo).is_some(), "{echo} not echoed");
    }
    ctx.invocation = Some((invocation_id.clone(), token.jwt));
    pass(format!(
        "{} → 200, {invocation_id}, echo fields present",
        capability.name
    ))
}

async fn failure_shapes(ctx: &mut Ctx<'_>) -> Outcome {
    let capability = plain_read(ctx)
        .or_else(|| ctx.capabilities.first().cloned())
        .ok_or("no capabilities")?;
    let token = ctx
        .token_for(
            &capability,
            json!({"purpose_parameters": {"task_id": "conformance-task"}}),
        )
        .await?;
    let no_token = ctx
        .http
        .post(
            &format!("/anip/invoke/{}", capability.name),
            None,
            Some(&json!({"parameters": {}})),
        )
        .await
        .require_status(401, "invoke without a token")?;
    failure_type(&no_token)?;
    let unknown = ctx
        .invoke(
            &token.jwt,
            "no_such_capability_conformance",
            json!({"parameters": {}}),
        )
        .await;
    expect_failure(&unknown, 404, "unknown_capability")?;
    ensure!(
        unknown.body["invocation_id"]
            .as_str()
            .is_some_and(|i| i.starts_with("inv-")),
        "a failure does not echo invocation_id"
    );
    let mismatch = ctx
        .invoke(
            &token.jwt,
            &capability.name,
            json!({"parameters": ctx.sample(&capability.name), "task_id": "another-task"}),
        )
        .await;
    expect_failure(&mismatch, 403, "purpose_mismatch")?;
    // A capability the token's scope does not cover.
    let held = capability.scope();
    let have: Vec<&str> = held
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let uncovered = ctx.capabilities.iter().find(|c| {
        c.scope().as_array().is_some_and(|need| {
            need.iter().filter_map(Value::as_str).any(|r| {
                !have
                    .iter()
                    .any(|s| r == *s || r.starts_with(&format!("{s}.")))
            })
        })
    });
    let mut shown = vec![
        "401 without a token",
        "404 unknown_capability",
        "403 purpose_mismatch",
    ];
    if let Some(other) = uncovered {
        let plain = ctx.token_for(&capability, json!({})).await?;
        let response = ctx
            .invoke(&plain.jwt, &other.name, json!({"parameters": {}}))
            .await;
        expect_failure(&response, 403, "scope_insufficient")?;
        ensure!(
            response.body["failure"]["resolution"]["grantable_by"].is_string(),
            "scope_insufficient without grantable_by: {}",
            response.summary()
        );
        shown.push("403 scope_insufficient with grantable_by");
    }
    let garbage = ctx
        .invoke("not-a-token", &capability.name, json!({"parameters": {}}))
        .await
        .require_status(401, "a garbage bearer")?;
    failure_type(&garbage)?;
    shown.push("401 for a garbage bearer");
    pass(shown.join(", "))
}

/// The amount the runtime checks against a budget for `capability`, with the parameters that
/// make it so, when the suite can work it out.
async fn checked_amount(
    ctx: &Ctx<'_>,
    capability: &Capability,
) -> Result<Option<(f64, String, Value)>, String> {
    let Some(financial) = capability.financial() else {
        return Ok(None);
    };
    let currency = financial["currency"].as_str().unwrap_or("USD").to_owned();
    let mut parameters = ctx.sample(&capability.name);
    let amount = match capability.declaration["cost"]["certainty"].as_str() {
        Some("fixed") => financial["amount"].as_f64(),
        Some("dynamic") => financial["upper_bound"].as_f64(),
        Some("estimated") => {
            let Some(binding) = capability.bindings().into_iter().next() else {
                return Ok(None);
            };
            let bound = ctx.fresh_binding(&binding).await?;
            let field = binding["field"].as_str().unwrap_or_default().to_owned();
            let price = bound["price"].as_f64();
            parameters[field] = bound;
            price
        }
        _ => None,
    };
    Ok(amount.map(|a| (a, currency, parameters)))
}

async fn budget_exceeded(ctx: &mut Ctx<'_>) -> Outcome {
    let financial: Vec<Capability> = ctx
        .capabilities
        .iter()
        .filter(|c| c.financial().is_some())
        .cloned()
        .collect();
    let mut shown = Vec::new();
    for capability in financial {
        let Some((amount, currency, parameters)) = checked_amount(ctx, &capability).await? else {
            continue;
        };
        let budget = (amount / 2.0).floor();
        let token = ctx
            .token_for(
                &capability,
                json!({"budget": {"currency": currency, "max_amount": budget}}),
            )
            .await?;
        let response = ctx
            .invoke(
                &token.jwt,
                &capability.name,
                json!({"parameters": parameters}),
            )
            .await;
        expect_failure(&response, 400, "budget_exceeded")
            .map_err(|e| format!("{}: {e}", capability.name))?;
        let context = &response.body["budget_context"];
        ensure!(
            context["cost_check_amount"].as_f64() == Some(amount)
                && context["budget_max"].as_f64() == Some(budget),
            "{}: budget_context {context} does not report {amount} against {budget}",
            capability.name
        );
        // An invocation budget can only narrow the token's.
        let rich = ctx
            .token_for(
                &capability,
                json!({"budget": {"currency": currency, "max_amount": amount * 10.0}}),
            )
            .await?;
        let narrowed = ctx
            .invoke(
                &rich.jwt,
                &capability.name,
                json!({"parameters": parameters, "budget": {"currency": currency, "max_amount": budget}}),
            )
            .await;
        expect_failure(&narrowed, 400, "budget_exceeded")
            .map_err(|e| format!("{} with an invocation budget: {e}", capability.name))?;
        shown.push(format!(
            "{} ({amount} {currency} > {budget})",
            capability.name
        ));
    }
    if shown.is_empty() {
        return skip("no capability with a checkable financial cost");
    }
    pass(format!(
        "budget_exceeded with budget_context: {}",
        shown.join(", ")
    ))
}

async fn binding_max_age(ctx: &mut Ctx<'_>) -> Outcome {
    let bound: Vec<Capability> = ctx
        .capabilities
        .iter()
        .filter(|c| c.bindings().iter().any(|b| b["max_age"].is_string()))
        .cloned()
        .collect();
    let Some(capability) = bound.first() else {
        return skip("no capability declares a binding with max_age");
    };
    let binding = capability
        .bindings()
        .into_iter()
        .find(|b| b["max_age"].is_string())
        .ok_or("binding vanished")?;
    let field = binding["field"].as_str().unwrap_or_default().to_owned();
    let max_age = binding["max_age"].as_str().unwrap_or_default();
    let seconds = iso_duration_seconds(max_age)
        .ok_or(format!("max_age {max_age:?} is not an ISO 8601 duration"))?;
    let fresh = ctx.fresh_binding(&binding).await?;
    let extra = match capability.financial() {
        Some(financial) => {
            let price = fresh["price"].as_f64().unwrap_or(0.0);
            json!({"budget": {"currency": financial["currency"].as_str().unwrap_or("USD"),
                "max_amount": (price * 10.0).max(1_000_000.0)}})
        }
        None => json!({}),
    };
    let token = ctx.token_for(capability, extra).await?;
    let mut parameters = ctx.sample(&capability.name);
    if let Value::Object(map) = &mut parameters {
        map.remove(&field);
    }
    let missing = ctx
        .invoke(
            &token.jwt,
            &capability.name,
            json!({"parameters": parameters}),
        )
        .await;
    expect_failure(&missing, 400, "binding_missing")?;
    ensure!(
        missing.body["failure"]["resolution"]["recovery_class"] == "refresh_then_retry",
        "binding_missing is not refresh_then_retry: {}",
        missing.summary()
    );
    let mut stale = fresh.clone();
    stale["issued_at"] = json!(now_epoch() - seconds - 300);
    parameters[&field] = stale;
    let response = ctx
        .invoke(
            &token.jwt,
            &capability.name,
            json!({"parameters": parameters}),
        )
        .await;
    expect_failure(&response, 400, "binding_stale")?;
    parameters[&field] = fresh;
    let response = ctx
        .invoke(
            &token.jwt,
            &capability.name,
            json!({"parameters": parameters}),
        )
        .await;
    ensure!(
        response.status == 200 && response.body["success"] == true,
        "{} with a fresh binding: {}",
        capability.name,
        response.summary()
    );
    pass(format!(
        "{}: binding_missing (refresh_then_retry), binding_stale past {max_age}, a fresh {field} succeeds",
        capability.name
    ))
}

async fn non_delegable(ctx: &mut Ctx<'_>) -> Outcome {
    let Some(capability) = ctx
        .capabilities
        .iter()
        .find(|c| c.control_types().iter().any(|t| t == "non_delegable"))
        .cloned()
    else {
        return skip("no capability declares a non_delegable control requirement");
    };
    let root = ctx.token_for(&capability, json!({})).await?;
    let child = ctx
        .issue(
            json!({"scope": capability.scope(), "capability": capability.name,
            "parent_token": root.token_id, "subject": "agent:conformance-delegate"}),
        )
        .await?;
    let refused = ctx
        .invoke(
            &child.jwt,
            &capability.name,
            json!({"parameters": ctx.sample(&capability.name)}),
        )
        .await;
    expect_failure(&refused, 403, "non_delegable_action")?;
    ensure!(
        refused.body["failure"]["resolution"]["recovery_class"] == "terminal",
        "non_delegable_action is not terminal"
    );
    let permissions = ctx
        .http
        .post("/anip/permissions", Some(&child.jwt), None)
        .await;
    ensure!(
        permissions.body["denied"].as_array().is_some_and(|d| d
            .iter()
            .any(|e| e["capability"] == capability.name.as_str()
                && e["reason_type"] == "non_delegable")),
        "a delegated token's permissions do not deny {}: {}",
        capability.name,
        permissions.summary()
    );
    let own = ctx
        .invoke(
            &root.jwt,
            &capability.name,
            json!({"parameters": ctx.sample(&capability.name)}),
        )
        .await;
    let own_type = own.body["failure"]["type"].as_str().unwrap_or_default();
    ensure!(
        own_type != "non_delegable_action",
        "the root token bound to {} is refused as non-delegable",
        capability.name
    );
    pass(format!(
        "{}: a delegated token gets 403 non_delegable_action (terminal) and a denied entry; the root token is not refused",
        capability.name
    ))
}

async fn audit_query(ctx: &mut Ctx<'_>) -> Outcome {
    let Some((invocation_id, jwt)) = ctx.invocation.clone() else {
        return Err("no successful invocation to look up (invoke_success failed)".into());
    };
    let claims = jwt::decode_unverified(&jwt).map_err(|e| e.to_string())?.1;
    let root_principal = claims
        .get("root_principal")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let filtered = ctx
        .http
        .post(
            &format!("/anip/audit?invocation_id={invocation_id}"),
            Some(&jwt),
            None,
        )
        .await
        .require_status(200, "audit")?;
    ensure!(
        filtered.body["count"] == 1,
        "audit?invocation_id={invocation_id} found {} entries",
        filtered.body["count"]
    );
    ensure!(
        filtered.body["root_principal"] == root_principal.as_str(),
        "audit root_principal is not the caller's"
    );
    let entry = filtered.body["entries"][0].clone();
    ensure!(
        entry["invocation_id"] == invocation_id.as_str(),
        "wrong entry returned"
    );
    ensure!(
        entry["success"] == true,
        "the entry of a success is not a success"
    );
    for field in [
        "sequence_number",
        "timestamp",
        "previous_hash",
        "signature",
        "capability",
        "event_class",
        "retention_tier",
    ] {
        ensure!(entry.get(field).is_some(), "entry lacks {field}");
    }
    ensure!(
        entry["previous_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:")),
        "previous_hash is not sha256:<hex>"
    );
    // The entry signature: an ES256 JWT over {"audit_hash": sha256(canonical)} with the audit key.
    let key = ctx.key("audit")?;
    let canonical = crate::audit::canonical(&entry);
    let signed = jwt::verify(
        &key,
        entry["signature"].as_str().unwrap_or_default(),
        &jwt::Validation {
            require_exp: false,
            ..jwt::Validation::new()
        },
    )
    .map_err(|e| format!("entry signature does not verify with the audit key: {e}"))?;
    ensure!(
        signed.get("audit_hash").and_then(Value::as_str)
            == Some(signing::sha256_hex(canonical.as_bytes()).as_str()),
        "audit_hash is not the SHA-256 of the entry's canonical text"
    );
    let recent = ctx.http.post("/anip/audit?limit=5", Some(&jwt), None).await;
    let sequences: Vec<i64> = recent.body["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["sequence_number"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        !sequences.is_empty(),
        "audit?limit=5 returned nothing: {}",
        recent.summary()
    );
    ensure!(
        sequences.windows(2).all(|w| w[0] > w[1]) && sequences.len() <= 5,
        "entries are not newest first within the limit: {sequences:?}"
    );
    ensure!(
        recent.body["entries"].as_array().is_some_and(|e| e
            .iter()
            .all(|x| x["root_principal"] == root_principal.as_str())),
        "audit returned another principal's entries"
    );
    let sequence = entry["sequence_number"].as_i64().unwrap_or_default();
    ctx.audit_entry = Some(entry);
    pass(format!(
        "{invocation_id} found (sequence {sequence}); entry signature and audit_hash verify; newest first"
    ))
}

async fn checkpoint_inclusion_proof(ctx: &mut Ctx<'_>) -> Outcome {
    let anchored = ctx.discovery["trust_level"] == "anchored";
    if !anchored {
        return skip(format!(
            "trust level {} produces no checkpoints",
            ctx.discovery["trust_level"]
        ));
    }
    let Some(entry) = ctx.audit_entry.clone() else {
        return Err("no audit entry to prove (audit_query failed)".into());
    };
    let sequence = entry["sequence_number"]
        .as_i64()
        .ok_or("entry without sequence_number")?;
    // Checkpoints follow the log on the service's cadence: wait (bounded) for one that covers
    // the entry.
    let deadline = Instant::now() + Duration::from_secs(90);
    let checkpoint = loop {
        let list = ctx
            .http
            .get("/anip/checkpoints?limit=1")
            .await
            .require_status(200, "checkpoints")?;
        let newest = list.body["checkpoints"][0].clone();
        if newest["range"]["last_sequence"]
            .as_i64()
            .is_some_and(|last| last >= sequence)
        {
            break newest;
        }
        ensure!(
            Instant::now() < deadline,
            "no checkpoint covered sequence {sequence} within 90 s (newest: {newest})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let id = checkpoint["checkpoint_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = ctx.key("audit")?;
    let mut body = checkpoint.as_object().cloned().unwrap_or_default();
    let signature = body
        .remove("signature")
        .and_then(|s| s.as_str().map(str::to_owned))
        .ok_or("checkpoint without signature")?;
    let signed_bytes = to_go_json(&Value::Object(body), GoJsonOptions::DIGEST);
    jws::verify_detached(&key, signed_bytes.as_bytes(), &signature)
        .map_err(|e| format!("{id}: signature does not verify with the audit key: {e}"))?;

    let leaf_index = sequence - checkpoint["range"]["first_sequence"].as_i64().unwrap_or(1);
    let detail = ctx
        .http
        .get(&format!(
            "/anip/checkpoints/{id}?include_proof=true&leaf_index={leaf_index}"
        ))
        .await
        .require_status(200, format_args!("{id} with proof"))?;
    let proof = &detail.body["inclusion_proof"];
    ensure!(
        proof.is_object(),
        "no inclusion_proof: {}",
        detail.summary()
    );
    let path: Vec<(String, String)> = proof["path"]
        .as_array()
        .ok_or("inclusion_proof.path is not a list")?
        .iter()
        .map(|step| {
            (
                step["hash"].as_str().unwrap_or_default().to_owned(),
                step["side"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let canonical = crate::audit::canonical(&entry);
    let root = inclusion_root(canonical.as_bytes(), &path).ok_or("malformed inclusion path")?;
    ensure!(
        Some(root.as_str()) == checkpoint["merkle_root"].as_str(),
        "the entry folds to {root}, the signed checkpoint says {}",
        checkpoint["merkle_root"]
    );
    let mut tampered = entry.clone();
    tampered["capability"] = json!("tampered");
    ensure!(
        inclusion_root(crate::audit::canonical(&tampered).as_bytes(), &path).as_deref()
            != Some(root.as_str()),
        "a tampered entry still proves inclusion"
    );
    ctx.http
        .get("/anip/checkpoints/ckpt-999999999")
        .await
        .require_status(404, "an unknown checkpoint")?;
    pass(format!(
        "{id} signature verifies; entry {sequence} proven in its Merkle root ({} steps) on the client",
        path.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_seconds("PT15M"), Some(900));
        assert_eq!(iso_duration_seconds("PT1H30M10S"), Some(5410));
        assert_eq!(iso_duration_seconds("P1DT1H"), Some(90_000));
        assert_eq!(iso_duration_seconds("P2W"), Some(1_209_600));
        assert_eq!(iso_duration_seconds("15M"), None);
        assert_eq!(iso_duration_seconds("PT15X"), None);
    }

    #[test]
    fn the_bound_value_is_the_first_object_with_issued_at() {
        let result = json!({"count": 1, "flights": [{"id": "AA100", "quote": {"id": "q1", "price": 420, "issued_at": 5}}]});
        assert_eq!(
            find_bound_value(&result),
            Some(json!({"id": "q1", "price": 420, "issued_at": 5}))
        );
        assert_eq!(find_bound_value(&json!({"issued_at": "text"})), None);
    }
}
