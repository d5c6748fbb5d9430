//! The Registry gates: smoke (publish, list, download, verify), the representative package
//! verifying with the trusted key, metadata hygiene, health, and browse through the public URL.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use registry_client::{
    fetch_and_verify, ListQuery, RegistryClient, VerificationReport, VerifyPolicy,
};
use serde_json::{json, Value};

use super::metadata::{scan, Finding};
use super::{get_text, http, GateResult, Targets, Verdict};

/// The package the Registry smoke publishes (a new pre-release version each run).
const SMOKE_PACKAGE: &str = "anip-gates-smoke";

fn client(targets: &Targets, with_token: bool) -> anyhow::Result<Option<RegistryClient>> {
    let Some(api) = targets.registry_api() else {
        return Ok(None);
    };
    let mut builder = RegistryClient::builder(api);
    if with_token {
        if let Some(token) = &targets.publish_token {
            builder = builder.token(token.clone());
        }
    }
    Ok(Some(builder.build()?))
}

fn policy(targets: &Targets) -> anyhow::Result<VerifyPolicy> {
    Ok(VerifyPolicy {
        trusted_key_id: targets.trusted_key_id.clone(),
        trusted_keys: targets
            .trusted_public_key
            .as_deref()
            .map(signing::PublicKeySet::parse_list)
            .transpose()?,
        ..VerifyPolicy::default()
    })
}

fn failures(report: &VerificationReport) -> String {
    report
        .failures()
        .map(|c| format!("{}: {}", c.name.as_str(), c.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A small publish request at `version`: a pre-release below every real version, so a smoke
/// publication never becomes anyone's latest. (The flight example cannot be published through
/// the publish route: its capability ids are not dotted, which the publish rules require; it
/// enters the local Registry as an imported bundle.)
fn smoke_request(version: &str) -> Value {
    crate::sample_package::publish_request(SMOKE_PACKAGE, version, 4 * 1024)
}

/// Registry smoke: publish, list, download, verify — and a publication carrying a local path is
/// refused at the door.
pub async fn smoke(targets: &Targets) -> GateResult {
    let Some(client) = client(targets, true)? else {
        return Ok(Verdict::Skip("no --registry-url".into()));
    };
    if targets.publish_token.is_none() {
        return Ok(Verdict::Skip(
            "no publish token (--publish-token or ANIP_REGISTRY_PUBLISH_TOKEN): nothing published"
                .into(),
        ));
    }
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let version = format!("0.0.0-gates.{stamp}");
    let request = smoke_request(&version);
    let package_id = SMOKE_PACKAGE.to_owned();
    let published = client
        .publish(&request)
        .await
        .context("publishing the smoke package")?;
    ensure!(
        published.publication.package_version == version,
        "the publication reports version {}",
        published.publication.package_version
    );

    let listed = client
        .publications(&ListQuery {
            q: Some(package_id.clone()),
            limit: Some(100),
            ..ListQuery::default()
        })
        .await?;
    ensure!(
        listed
            .items
            .iter()
            .any(|p| p.package_id == package_id && p.package_version == version),
        "{package_id}@{version} is not in the publication list"
    );
    let downloaded = client.download(&package_id, &version, false).await?;
    ensure!(
        downloaded.package_version() == version,
        "the download is {}@{}",
        downloaded.package_id(),
        downloaded.package_version()
    );
    let (_, report) = fetch_and_verify(&client, &package_id, &version, &policy(targets)?).await?;
    ensure!(
        report.ok(),
        "{package_id}@{version} does not verify: {}",
        failures(&report)
    );

    // The door: metadata with a local path is refused with a 400 naming the field.
    let mut leaking = smoke_request(&format!("0.0.0-gates.{stamp}.leak"));
    leaking["service_definition"]["identity"]["source_path"] =
        json!("/home/alice/src/gates-smoke/definition.json");
    match client.publish(&leaking).await {
        // The refusal names the field, so it is the path that was refused.
        Err(e) if e.status() == Some(400) && e.to_string().contains("source_path") => {}
        Err(e) => bail!("a publication with a local path got {e} instead of a 400"),
        Ok(_) => bail!(
            "the Registry accepted a publication whose service definition holds /home/alice/…"
        ),
    }
    Ok(Verdict::Pass(format!(
        "published {package_id}@{version}, listed, downloaded, verified ({} checks, key {}); a local path is refused with 400",
        report.checks.len(),
        report.key_id.as_deref().unwrap_or("?")
    )))
}

/// The representative package verifies from the Registry with the trusted key.
pub async fn package_verifies(targets: &Targets) -> GateResult {
    let Some(client) = client(targets, false)? else {
        return Ok(Verdict::Skip("no --registry-url".into()));
    };
    let Some(key_id) = &targets.trusted_key_id else {
        return Ok(Verdict::Skip("no --trusted-key-id".into()));
    };
    let package = &targets.package;
    let (_, report) = fetch_and_verify(
        &client,
        &package.package_id,
        &package.package_version,
        &policy(targets)?,
    )
    .await?;
    ensure!(
        report.ok(),
        "{}@{} does not verify: {}",
        package.package_id,
        package.package_version,
        failures(&report)
    );
    ensure!(
        report.key_id.as_deref() == Some(key_id.as_str()),
        "signed by {:?}, not the trusted {key_id}",
        report.key_id
    );
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    Ok(Verdict::Pass(format!(
        "{}@{} signed by {key_id}: {}",
        package.package_id,
        package.package_version,
        names.join(", ")
    )))
}

/// No local filesystem paths or secrets in any published package's (or template's) metadata.
pub async fn metadata_hygiene(targets: &Targets) -> GateResult {
    let Some(client) = client(targets, false)? else {
        return Ok(Verdict::Skip("no --registry-url".into()));
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut packages = 0;
    let mut offset = 0u32;
    loop {
        let page = client
            .publications(&ListQuery {
                limit: Some(100),
                offset: Some(offset),
                ..ListQuery::default()
            })
            .await?;
        let count = page.items.len();
        for item in &page.items {
            let label = format!("{}@{}", item.package_id, item.package_version);
            findings.extend(scan(
                &format!("{label} publication"),
                &serde_json::to_value(item)?,
            ));
            match client
                .package(&item.package_id, &item.package_version)
                .await
            {
                Ok(record) => findings.extend(scan(&label, record.as_value())),
                // A taken down package is no longer published.
                Err(e) if e.status() == Some(410) => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {label}")),
            }
            packages += 1;
        }
        let total = page.total.unwrap_or(0);
        offset += u32::try_from(count)?;
        if count == 0 || i64::from(offset) >= total {
            break;
        }
    }
    let templates = client
        .templates(&ListQuery {
            limit: Some(100),
            ..ListQuery::default()
        })
        .await?;
    for template in &templates.items {
        let label = format!(
            "template {}@{}",
            template.template_id, template.template_version
        );
        let record = client
            .template(&template.template_id, &template.template_version)
            .await
            .with_context(|| format!("reading {label}"))?;
        findings.extend(scan(&label, &record));
    }
    ensure!(packages > 0, "the Registry lists no package to check");
    if !findings.is_empty() {
        let shown: Vec<String> = findings
            .iter()
            .take(5)
            .map(|f| format!("{} holds {}", f.path, f.what))
            .collect();
        bail!(
            "{} finding(s): {}{}",
            findings.len(),
            shown.join("; "),
            if findings.len() > 5 { "; …" } else { "" }
        );
    }
    Ok(Verdict::Pass(format!(
        "{packages} packages and {} templates scanned: no local path, no secret-looking value",
        templates.items.len()
    )))
}

/// Registry readyz and metrics are reachable.
pub async fn health(targets: &Targets) -> GateResult {
    let Some(base) = &targets.registry_url else {
        return Ok(Verdict::Skip("no --registry-url".into()));
    };
    let client = http()?;
    let base = base.trim_end_matches('/');
    let (status, body) = get_text(&client, &format!("{base}/registry-api/v1/readyz")).await?;
    ensure!(status == 200, "readyz answered {status}: {body}");
    let ready: Value = serde_json::from_str(&body).context("readyz is not JSON")?;
    ensure!(
        ready["migration"]["applied"] == true,
        "readyz reports migrations not applied: {body}"
    );
    let (status, metrics) = get_text(&client, &format!("{base}/registry-api/v1/metrics")).await?;
    ensure!(status == 200, "metrics answered {status}");
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("anip_registry_"))
        .count();
    ensure!(series > 0, "metrics hold no anip_registry_ series");
    Ok(Verdict::Pass(format!(
        "readyz 200 (migrations applied), metrics 200 ({series} anip_registry_ samples)"
    )))
}

/// Package and template browse pages answer through the configured public base URL.
pub async fn public_browse(targets: &Targets) -> GateResult {
    let Some(base) = &targets.public_base_url else {
        return Ok(Verdict::Skip(
            "no --public-base-url or --registry-url".into(),
        ));
    };
    let base = base.trim_end_matches('/');
    let client = http()?;
    let package = &targets.package;
    let mut shown = Vec::new();
    for (path, needle) in [
        ("/registry/packages".to_owned(), package.package_id.clone()),
        (
            format!(
                "/registry/packages/{}/{}",
                package.package_id, package.package_version
            ),
            package.package_version.clone(),
        ),
        ("/registry/templates".to_owned(), String::new()),
    ] {
        let (status, page) = get_text(&client, &format!("{base}{path}")).await?;
        ensure!(status == 200, "{base}{path} answered {status}");
        ensure!(
            page.contains("<html") || page.contains("<!DOCTYPE") || page.contains("<!doctype"),
            "{base}{path} is not an HTML page"
        );
        ensure!(
            page.contains(&needle),
            "{base}{path} does not mention {needle}"
        );
        shown.push(path);
    }
    // A template's own page, when the Registry has templates.
    if let Some(api) = targets.registry_api() {
        let registry = RegistryClient::new(&api)?;
        let templates = registry
            .templates(&ListQuery {
                limit: Some(1),
                ..ListQuery::default()
            })
            .await?;
        if let Some(template) = templates.items.first() {
            let path = format!(
                "/registry/templates/{}/{}",
                template.template_id, template.template_version
            );
            let (status, _) = get_text(&client, &format!("{base}{path}")).await?;
            ensure!(status == 200, "{base}{path} answered {status}");
            shown.push(path);
        }
        // The Registry knows its public URL: the lock it serves points there.
        let lock = registry
            .lock(&package.package_id, &package.package_version)
            .await?;
        let lock = serde_json::to_value(&lock)?;
        let registry_url = lock["registry_url"].as_str().unwrap_or_default();
        ensure!(
            registry_url.starts_with(base),
            "the lock's registry_url {registry_url:?} is not under the public base {base}"
        );
    }
    Ok(Verdict::Pass(format!(
        "{} answer 200 under {base}; the lock's registry_url is there too",
        shown.join(", ")
    )))
}
