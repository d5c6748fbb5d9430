//! Declarative scenarios: an agent's flow as a JSON file of steps, run against a runtime.
//!
//! ```json
//! {
//!   "scenario": "anip-scenario/v1",
//!   "name": "book within budget after escalation",
//!   "service_id": "flight-service",
//!   "steps": [
//!     {"name": "token",
//!      "request": {"method": "POST", "path": "/anip/tokens", "bearer": "${bootstrap}",
//!                  "body": {"scope": ["travel.search"], "capability": "search_flights"}},
//!      "expect": {"status": 200, "equals": {"/issued": true}},
//!      "capture": {"search_token": "/token"}}
//!   ]
//! }
//! ```
//!
//! A step sends one request and checks the answer:
//! `status`; `failure_type` (which also checks the failure shape: type, detail, resolution
//! with a canonical recovery class, retry); `equals` (JSON pointer → value); `present` and
//! `absent` (pointers); `length` (pointer → array length); `contains` (pointer → an object
//! that some element of the array there matches member by member). `capture` stores values
//! from the answer by JSON pointer for later steps.
//!
//! Strings anywhere in a request or an expectation may use `${name}`: a string that is exactly
//! `${name}` becomes the captured JSON value itself (a quote object stays an object); inside a
//! longer string the value is spliced in as text. Built in: `${bootstrap}` (the target's
//! bootstrap credential, which never appears in a report) and `${now}` (epoch seconds).
//! A step stops the scenario at its first failure: later steps depend on its captures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::{Http, Response};
use crate::{ConformanceError, Target};

/// The format marker every scenario file carries.
pub const SCENARIO_SCHEMA: &str = "anip-scenario/v1";

/// One scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Always [`SCENARIO_SCHEMA`].
    pub scenario: String,
    /// A short name.
    pub name: String,
    /// What the flow shows, in a sentence.
    #[serde(default)]
    pub description: String,
    /// The service the flow is written for (`service_identity.id` in its manifest); a runtime
    /// serving another service skips the scenario.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One request and what its answer must show.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the agent does, e.g. `book over budget`.
    pub name: String,
    /// The request.
    pub request: StepRequest,
    /// The expectations.
    #[serde(default)]
    pub expect: Expect,
    /// Variable name → JSON pointer into the answer's body.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

/// An HTTP request relative to the runtime's base URL.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// `GET` (default) or `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query, e.g. `/anip/invoke/book_flight`.
    pub path: String,
    /// Bearer credential, usually `${bootstrap}` or a captured token.
    #[serde(default)]
    pub bearer: Option<String>,
    /// JSON body.
    #[serde(default)]
    pub body: Option<Value>,
}

fn default_method() -> String {
    "GET".to_owned()
}

/// What an answer must show.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// `failure.type`, with the failure shape checked.
    #[serde(default)]
    pub failure_type: Option<String>,
    /// JSON pointer → expected value.
    #[serde(default)]
    pub equals: BTreeMap<String, Value>,
    /// Pointers that must resolve.
    #[serde(default)]
    pub present: Vec<String>,
    /// Pointers that must not resolve (or resolve to null).
    #[serde(default)]
    pub absent: Vec<String>,
    /// Pointer → expected array length.
    #[serde(default)]
    pub length: BTreeMap<String, usize>,
    /// Pointer to an array → an object some element matches member by member.
    #[serde(default)]
    pub contains: BTreeMap<String, Value>,
}

/// The outcome of one step.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// What was shown, or what failed.
    pub detail: String,
}

/// The outcome of one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// The file it came from, when it came from one.
    pub file: Option<PathBuf>,
    /// Why it did not run (the runtime serves another service), when it did not.
    pub skipped: Option<String>,
    /// The steps that ran (a failed step ends the run).
    pub steps: Vec<StepResult>,
    /// Steps in the scenario.
    pub total_steps: usize,
}

impl ScenarioReport {
    /// True when it ran and every step passed.
    pub fn passed(&self) -> bool {
        self.skipped.is_none()
            && self.steps.len() == self.total_steps
            && self.steps.iter().all(|s| s.passed)
    }

    /// The first failed step.
    pub fn failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| !s.passed)
    }
}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ConformanceError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Io {
        path: shown.clone(),
        source,
    })?;
    let scenario: Scenario =
        serde_json::from_str(&text).map_err(|e| ConformanceError::InvalidScenario {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let invalid = |reason: String| ConformanceError::InvalidScenario {
        path: shown.clone(),
        reason,
    };
    if scenario.scenario != SCENARIO_SCHEMA {
        return Err(invalid(format!(
            "scenario is {:?}, expected {SCENARIO_SCHEMA:?}",
            scenario.scenario
        )));
    }
    if scenario.steps.is_empty() {
        return Err(invalid("no steps".to_owned()));
    }
    for step in &scenario.steps {
        if !matches!(step.request.method.as_str(), "GET" | "POST") {
            return Err(invalid(format!(
                "step {:?}: method {:?} (GET or POST)",
                step.name, step.request.method
            )));
        }
        if !step.request.path.starts_with('/') {
            return Err(invalid(format!(
                "step {:?}: path must start with /",
                step.name
            )));
        }
        let pointers = step
            .capture
            .values()
            .chain(step.expect.equals.keys())
            .chain(&step.expect.present)
            .chain(&step.expect.absent)
            .chain(step.expect.length.keys())
            .chain(step.expect.contains.keys());
        for pointer in pointers {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(invalid(format!(
                    "step {:?}: {pointer:?} is not a JSON pointer",
                    step.name
                )));
            }
        }
    }
    Ok(scenario)
}

/// The file name ending that marks a scenario file.
pub const SCENARIO_SUFFIX: &str = ".scenario.json";

/// The scenario files (`*.scenario.json`) in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, ConformanceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConformanceError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(SCENARIO_SUFFIX))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads `path` and runs it against `target`.
pub async fn run_file(target: &Target, path: &Path) -> Result<ScenarioReport, ConformanceError> {
    let scenario = load(path)?;
    let mut report = run(target, &scenario).await?;
    report.file = Some(path.to_path_buf());
    Ok(report)
}

/// Runs `scenario` against `target`.
pub async fn run(target: &Target, scenario: &Scenario) -> Result<ScenarioReport, ConformanceError> {
    let http = Http::new(&target.base_url)?;
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        file: None,
        skipped: None,
        steps: Vec::new(),
        total_steps: scenario.steps.len(),
    };
    if let Some(expected) = &scenario.service_id {
        let manifest = http.get("/anip/manifest").await;
        let served = manifest.body["service_identity"]["id"]
            .as_str()
            .unwrap_or_default();
        if served != expected {
            report.skipped = Some(format!(
                "written for {expected}; the runtime serves {:?} ({})",
                served, manifest.status
            ));
            return Ok(report);
        }
    }
    let secret = target.bootstrap_bearer.expose();
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    vars.insert("bootstrap".into(), json!(secret));
    for step in &scenario.steps {
        vars.insert("now".into(), json!(now_epoch()));
        let result = run_step(&http, step, &mut vars).await;
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        // The bootstrap credential never reaches a report.
        let detail = if secret.is_empty() {
            detail
        } else {
            detail.replace(secret, "[bootstrap]")
        };
        report.steps.push(StepResult {
            name: step.name.clone(),
            passed,
            detail,
        });
        if !passed {
            break;
        }
    }
    Ok(report)
}

async fn run_step(
    http: &Http,
    step: &Step,
    vars: &mut BTreeMap<String, Value>,
) -> Result<String, String> {
    let path = substitute(&json!(step.request.path), vars)?;
    let path = path.as_str().unwrap_or_default().to_owned();
    let bearer = match &step.request.bearer {
        Some(b) => Some(text_of(&substitute(&json!(b), vars)?)),
        None => None,
    };
    let body = match &step.request.body {
        Some(b) => Some(substitute(b, vars)?),
        None => None,
    };
    let response = http
        .send(
            &step.request.method,
            &path,
            bearer.as_deref(),
            body.as_ref(),
        )
        .await;
    check(&response, &step.expect, vars)?;
    for (name, pointer) in &step.capture {
        let value = response
            .body
            .pointer(pointer)
            .filter(|v| !v.is_null())
            .ok_or(format!(
                "capture {name}: nothing at {pointer} in {}",
                response.summary()
            ))?;
        vars.insert(name.clone(), value.clone());
    }
    Ok(format!(
        "{} {path} → {}",
        step.request.method, response.status
    ))
}

fn check(
    response: &Response,
    expect: &Expect,
    vars: &BTreeMap<String, Value>,
) -> Result<(), String> {
    if let Some(status) = expect.status {
        if response.status != status {
            return Err(format!(
                "expected status {status}, got {}",
                response.summary()
            ));
        }
    }
    if let Some(expected) = &expect.failure_type {
        let found = crate::checks::failure_type(response)?;
        if &found != expected {
            return Err(format!(
                "expected failure {expected}, got {found}: {}",
                response.summary()
            ));
        }
    }
    for (pointer, expected) in &expect.equals {
        let expected = substitute(expected, vars)?;
        let found = response
            .body
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null);
        if !json_equal(&found, &expected) {
            return Err(format!("{pointer} is {found}, expected {expected}"));
        }
    }
    for pointer in &expect.present {
        if response.body.pointer(pointer).is_none_or(Value::is_null) {
            return Err(format!("{pointer} is missing: {}", response.summary()));
        }
    }
    for pointer in &expect.absent {
        if let Some(found) = response.body.pointer(pointer).filter(|v| !v.is_null()) {
            return Err(format!("{pointer} should be absent, is {found}"));
        }
    }
    for (pointer, length) in &expect.length {
        let found = response
            .body
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(Vec::len);
        if found != Some(*length) {
            return Err(format!("{pointer} has length {found:?}, expected {length}"));
        }
    }
    for (pointer, pattern) in &expect.contains {
        let pattern = substitute(pattern, vars)?;
        let items = response
            .body
            .pointer(pointer)
            .and_then(Value::as_array)
            .ok_or(format!("{pointer} is not a list: {}", response.summary()))?;
        if !items.iter().any(|item| matches(item, &pattern)) {
            return Err(format!("no element of {pointer} matches {pattern}"));
        }
    }
    Ok(())
}

/// Numbers compare by value (`45` equals `45.0`); everything else structurally.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// `item` has every member of `pattern` (recursively for objects).
fn matches(item: &Value, pattern: &Value) -> bool {
    match (item, pattern) {
        (Value::Object(item), Value::Object(pattern)) => pattern
            .iter()
            .all(|(k, p)| item.get(k).is_some_and(|v| matches(v, p))),
        _ => json_equal(item, pattern),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces `${name}` in every string of `value`.
fn substitute(value: &Value, vars: &BTreeMap<String, Value>) -> Result<Value, String> {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
                if !name.contains("${") && !name.contains('}') {
                    return vars
                        .get(name)
                        .cloned()
                        .ok_or(format!("${{{name}}} is not captured yet"));
                }
            }
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or(format!("unclosed ${{ in {text:?}"))?;
                let name = &after[..end];
                let value = vars
                    .get(name)
                    .ok_or(format!("${{{name}}} is not captured yet"))?;
                out.push_str(&text_of(value));
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Ok(Value::String(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| substitute(v, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), substitute(v, vars)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_string_variables_keep_their_type_and_others_splice() {
        let vars = BTreeMap::from([
            ("quote".to_owned(), json!({"id": "q1", "price": 420})),
            ("inv".to_owned(), json!("inv-1")),
        ]);
        let body =
            json!({"quote_id": "${quote}", "path": "/anip/audit?invocation_id=${inv}", "n": 3});
        assert_eq!(
            substitute(&body, &vars).unwrap(),
            json!({"quote_id": {"id": "q1", "price": 420}, "path": "/anip/audit?invocation_id=inv-1", "n": 3})
        );
        assert!(substitute(&json!("${missing}"), &vars).is_err());
        assert!(substitute(&json!("a ${inv"), &vars).is_err());
    }

    #[test]
    fn contains_matches_a_subset_and_numbers_by_value() {
        let item = json!({"capability": "book_flight", "success": true, "cost": {"amount": 45.0, "currency": "USD"}});
        assert!(matches(
            &item,
            &json!({"success": true, "cost": {"amount": 45}})
        ));
        assert!(!matches(&item, &json!({"success": false})));
        assert!(json_equal(&json!(45), &json!(45.0)));
        assert!(!json_equal(&json!([1]), &json!([1, 2])));
    }
}
