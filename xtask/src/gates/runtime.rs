//! The runtime gates: a runtime started from the package answers discovery, the conformance
//! suite passes against it, and the declarative scenarios pass.

use anip_conformance::scenario;
use anyhow::{ensure, Context};
use registry_client::RegistryClient;
use serde_json::Value;

use super::{http, GateResult, Targets, Verdict};

/// The runtime serves the representative package: ready, discovery answers, and the manifest
/// it signs is the package's service with the package's capabilities.
pub async fn from_package(targets: &Targets) -> GateResult {
    let Some(base) = &targets.runtime_url else {
        return Ok(Verdict::Skip("no --runtime-url".into()));
    };
    let base = base.trim_end_matches('/');
    let client = http()?;
    let ready = client.get(format!("{base}/readyz")).send().await?;
    ensure!(ready.status() == 200, "readyz answered {}", ready.status());
    let discovery: Value = client
        .get(format!("{base}/.well-known/anip"))
        .send()
        .await?
        .json()
        .await
        .context("discovery is not JSON")?;
    let discovered = discovery["anip_discovery"]["capabilities"]
        .as_object()
        .context("discovery lists no capabilities")?;
    let manifest: Value = client
        .get(format!("{base}/anip/manifest"))
        .send()
        .await?
        .json()
        .await
        .context("the manifest is not JSON")?;
    let service_id = manifest["service_identity"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let package = &targets.package;
    let Some(api) = targets.registry_api() else {
        return Ok(Verdict::Pass(format!(
            "discovery answers: {service_id} with {} capabilities (no --registry-url to compare with {}@{})",
            discovered.len(),
            package.package_id,
            package.package_version
        )));
    };
    let record = RegistryClient::new(&api)?
        .package(&package.package_id, &package.package_version)
        .await?;
    let definition = record
        .service_definition()
        .context("the package has no service definition")?;
    let declared: Vec<&str> = definition["capability_formalizations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["service_id"].as_str().is_none_or(|s| s == service_id))
        .filter_map(|f| f["capability_id"].as_str())
        .collect();
    let mut served: Vec<&str> = discovered.keys().map(String::as_str).collect();
    let mut expected = declared.clone();
    served.sort_unstable();
    expected.sort_unstable();
    ensure!(
        served == expected,
        "the runtime serves {served:?}; {}@{} formalizes {expected:?} for {service_id}",
        package.package_id,
        package.package_version
    );
    Ok(Verdict::Pass(format!(
        "ready; discovery answers {service_id} with the package's {} capabilities ({}@{})",
        served.len(),
        package.package_id,
        package.package_version
    )))
}

/// The project's conformance suite passes against the runtime.
pub async fn conformance(targets: &Targets) -> GateResult {
    let Some(target) = targets.conformance_target() else {
        return Ok(Verdict::Skip(
            "no --runtime-url or --bootstrap-bearer".into(),
        ));
    };
    let report = anip_conformance::run(&target).await;
    for check in &report.checks {
        eprintln!("    {check}");
    }
    if report.all_passed() {
        return Ok(Verdict::Pass(format!(
            "{}/{} checks passed",
            report.passed(),
            report.checks.len()
        )));
    }
    let not_passed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status != anip_conformance::Status::Pass)
        .map(|c| format!("{} {}: {}", c.status.label(), c.name, c.detail))
        .collect();
    Ok(Verdict::Fail(format!(
        "{} passed, {} failed, {} skipped: {}",
        report.passed(),
        report.failed(),
        report.skipped(),
        not_passed.join("; ")
    )))
}

/// Every scenario file runs against the runtime and passes.
pub async fn scenarios(targets: &Targets) -> GateResult {
    let Some(target) = targets.conformance_target() else {
        return Ok(Verdict::Skip(
            "no --runtime-url or --bootstrap-bearer".into(),
        ));
    };
    let files = scenario::files_in(&targets.scenarios)?;
    ensure!(
        !files.is_empty(),
        "no *.scenario.json in {}",
        targets.scenarios.display()
    );
    let mut passed = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = scenario::run_file(&target, file).await?;
        if let Some(reason) = &report.skipped {
            eprintln!("    SKIP {name}: {reason}");
            skipped.push(format!("{name} ({reason})"));
        } else if report.passed() {
            eprintln!("    PASS {name} ({} steps)", report.steps.len());
            passed.push(format!("{name} ({} steps)", report.steps.len()));
        } else {
            let step = report.failure();
            let why = step.map_or("incomplete".to_owned(), |s| {
                format!("step {:?}: {}", s.name, s.detail)
            });
            eprintln!("    FAIL {name}: {why}");
            failed.push(format!("{name}: {why}"));
        }
    }
    if !failed.is_empty() {
        return Ok(Verdict::Fail(failed.join("; ")));
    }
    if !skipped.is_empty() {
        return Ok(Verdict::Skip(format!(
            "not run against this runtime: {}",
            skipped.join(", ")
        )));
    }
    Ok(Verdict::Pass(format!(
        "{} scenarios: {}",
        passed.len(),
        passed.join(", ")
    )))
}
