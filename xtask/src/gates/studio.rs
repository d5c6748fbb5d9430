//! The Studio gates: the read-only smoke, every mutating route of the OpenAPI document refused
//! by the read-only Studio, and readiness and metrics.

use anyhow::{ensure, Context};
use serde_json::{json, Value};

use super::{get_text, http, GateResult, Targets, Verdict};

/// Read-only Studio serves reads, says it is read-only, and refuses a write.
pub async fn read_only_smoke(targets: &Targets) -> GateResult {
    let Some(base) = &targets.studio_read_only_url else {
        return Ok(Verdict::Skip("no --studio-public-url".into()));
    };
    let base = base.trim_end_matches('/');
    let client = http()?;
    let (status, body) = get_text(&client, &format!("{base}/api/runtime-status")).await?;
    ensure!(status == 200, "runtime-status answered {status}");
    let runtime: Value = serde_json::from_str(&body).context("runtime-status is not JSON")?;
    ensure!(
        runtime["read_only_mode"] == true,
        "runtime-status reports read_only_mode {}",
        runtime["read_only_mode"]
    );
    let mut reads = Vec::new();
    for path in ["/api/openapi.json", "/api/workspaces", "/studio"] {
        let (status, _) = get_text(&client, &format!("{base}{path}")).await?;
        ensure!(
            status == 200,
            "GET {path} answered {status} in read-only mode"
        );
        reads.push(path);
    }
    let response = client
        .post(format!("{base}/api/workspaces"))
        .json(&json!({"name": "gates-probe"}))
        .send()
        .await?;
    let status = response.status().as_u16();
    let refusal: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(
        status == 403 && refusal["detail"].is_string(),
        "POST /api/workspaces answered {status} {refusal}"
    );
    Ok(Verdict::Pass(format!(
        "read_only_mode true; GET {} 200; POST /api/workspaces 403 {}",
        reads.join(", "),
        refusal["detail"]
    )))
}

/// Whether an OpenAPI operation is documented as safe in read-only mode (pure validation or
/// verification that writes nothing).
fn read_only_safe(operation: &Value) -> bool {
    let tagged = operation["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == "validation"));
    let described = operation["responses"].as_object().is_some_and(|responses| {
        responses.values().any(|r| {
            r["description"]
                .as_str()
                .is_some_and(|d| d.contains("allowed in read-only mode"))
        })
    });
    tagged || described
}

/// Every mutating route of Studio's OpenAPI document is refused by the read-only Studio.
pub async fn blocks_mutations(targets: &Targets) -> GateResult {
    let Some(base) = &targets.studio_read_only_url else {
        return Ok(Verdict::Skip("no --studio-public-url".into()));
    };
    let base = base.trim_end_matches('/');
    let client = http()?;
    // Probing a writable Studio with writes could change it: refuse to, and fail.
    let (status, body) = get_text(&client, &format!("{base}/api/runtime-status")).await?;
    let runtime: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    ensure!(
        status == 200 && runtime["read_only_mode"] == true,
        "{base} does not report read_only_mode (runtime-status {status}): mutation routes not probed"
    );
    let (status, text) = get_text(&client, &format!("{base}/api/openapi.json")).await?;
    ensure!(status == 200, "openapi.json answered {status}");
    let document: Value = serde_json::from_str(&text).context("openapi.json is not JSON")?;
    let paths = document["paths"]
        .as_object()
        .context("the OpenAPI document has no paths")?;
    let mut refused = 0;
    let mut exempt = Vec::new();
    let mut leaks = Vec::new();
    for (path, item) in paths {
        for method in ["post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            // Path parameters get a probe value: the guard answers before any lookup.
            let concrete: String = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') && segment.ends_with('}') {
                        "gates-probe"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method_upper = method.to_ascii_uppercase();
            let response = client
                .request(
                    reqwest::Method::from_bytes(method_upper.as_bytes())?,
                    format!("{base}{concrete}"),
                )
                .json(&json!({}))
                .send()
                .await
                .with_context(|| format!("{method_upper} {concrete}"))?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if read_only_safe(operation) {
                exempt.push(format!("{method_upper} {path} → {status}"));
                if status >= 500 {
                    leaks.push(format!("{method_upper} {path} → {status}"));
                }
            } else if status == 403 && body["detail"].is_string() {
                refused += 1;
            } else {
                leaks.push(format!("{method_upper} {path} → {status}"));
            }
        }
    }
    // The guard stands in front of routing: unknown paths and methods are refused too.
    for (method, path) in [
        ("POST", "/api/no-such-route"),
        ("DELETE", "/studio/anything"),
    ] {
        let response = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{base}{path}"),
            )
            .send()
            .await?;
        if response.status().as_u16() == 403 {
            refused += 1;
        } else {
            leaks.push(format!("{method} {path} → {}", response.status().as_u16()));
        }
    }
    ensure!(leaks.is_empty(), "not refused: {}", leaks.join(", "));
    ensure!(refused > 2, "the OpenAPI document lists no mutating route");
    Ok(Verdict::Pass(format!(
        "{refused} mutating requests refused with 403 {{detail}}; {} read-only-safe validation routes answered ({})",
        exempt.len(),
        exempt.join(", ")
    )))
}

/// Studio readyz and metrics are reachable (every Studio given: internal and public).
pub async fn health(targets: &Targets) -> GateResult {
    let bases: Vec<&String> = [&targets.studio_url, &targets.studio_read_only_url]
        .into_iter()
        .flatten()
        .collect();
    if bases.is_empty() {
        return Ok(Verdict::Skip(
            "no --studio-url or --studio-public-url".into(),
        ));
    }
    let client = http()?;
    let mut shown = Vec::new();
    for base in bases {
        let base = base.trim_end_matches('/');
        let (status, body) = get_text(&client, &format!("{base}/api/readyz")).await?;
        ensure!(status == 200, "{base}/api/readyz answered {status}: {body}");
        let (status, metrics) = get_text(&client, &format!("{base}/api/metrics")).await?;
        ensure!(status == 200, "{base}/api/metrics answered {status}");
        let series = metrics
            .lines()
            .filter(|l| l.starts_with("anip_studio_"))
            .count();
        ensure!(
            series > 0,
            "{base}/api/metrics holds no anip_studio_ series"
        );
        shown.push(format!(
            "{base}: readyz 200, metrics 200 ({series} samples)"
        ));
    }
    Ok(Verdict::Pass(shown.join("; ")))
}
