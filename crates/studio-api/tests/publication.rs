//! Packages and publication: build, guard, local publication (immutable, verifiable,
//! downloadable), Registry errors, and the trust verdict on genuine upstream receipts.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use registry_client::{PackageRecord, Receipt, RegistryKeys};
use serde_json::{json, Value};
use studio_api::config::Settings;
use studio_api::registry::{verdict, TrustPolicy};

#[actix_web::test]
async fn package_build_and_local_publication() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Expense Approvals").await;

    let (status, package) = app.get(&format!("/api/projects/{pid}/package")).await;
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["publishable"], true, "{}", package["findings"]);
    let request = &package["request"];
    assert_eq!(request["package_id"], "expense-approvals");
    assert_eq!(request["package_version"], "0.1.1");
    assert_eq!(request["manifest"]["anip_spec_version"], "anip/0.24");
    assert_eq!(
        request["manifest"]["agent_consumption_readiness"]["status"],
        "ready"
    );
    assert_eq!(
        request["recommended_lock"]["capability_ids"],
        json!(["expenses.report.lookup", "expenses.report.approve"])
    );
    assert!(request["readme"]
        .as_str()
        .unwrap()
        .contains("`expenses.report.approve`"));
    assert_eq!(
        request["service_definition"]["compiled_contract_identity"]["signature"],
        request["contract_signature"]
    );
    assert_eq!(
        request["lineage"]["developer_revision"]["artifact_id"],
        request["developer_revision_ref"]
    );
    // Deterministic: the same revision builds the same bytes.
    let (_, again) = app.get(&format!("/api/projects/{pid}/package")).await;
    assert_eq!(again["request"], package["request"]);

    let url = format!("/api/projects/{pid}/local-publications");
    let (status, publication) = app.post(&url, &json!({"package_version": "1.0.0"})).await;
    assert_eq!(status, 201, "{publication}");
    assert_eq!(publication["authority"], "local-studio");
    assert_eq!(publication["publication"]["package_version"], "1.0.0");
    let id = publication["id"].as_str().unwrap();

    let (status, duplicate) = app.post(&url, &json!({"package_version": "1.0.0"})).await;
    assert_eq!(status, 409, "{duplicate}");
    assert!(duplicate["detail"]
        .as_str()
        .unwrap()
        .contains("already published"));

    let (status, verification) = app.post(&format!("{url}/{id}/verify"), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(verification["status"], "ok", "{verification}");
    assert!(verification["checks"].as_array().unwrap().len() >= 15);

    let response = app
        .http
        .get(app.url(&format!("{url}/{id}/bundle")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("expense-approvals-1.0.0.anip-package.json"));
    let bundle: Value = response.json().await.unwrap();
    assert_eq!(bundle["bundle_schema_version"], "anip-package-bundle/v1");
    assert_eq!(
        bundle["digests"]["manifest"],
        bundle["package"]["manifest_digest"]
    );
    assert_eq!(
        bundle["digests"]["service_definition"],
        json!(signing::digest_value(&bundle["service_definition"]))
    );

    // Immutable: the database refuses to change a publication, even bypassing the API.
    let client = app.pool.get().await.unwrap();
    let error = client
        .execute(
            "UPDATE local_publications SET package_version = '9.9.9' WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap_err();
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("immutable"), "{error:?}");

    let (_, history) = app.get(&format!("/api/projects/{pid}/history")).await;
    assert_eq!(history["local_publications"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn the_publication_guard_refuses_in_plain_english() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Guarded").await;
    let (_, package) = app.get(&format!("/api/projects/{pid}/package")).await;
    let request = package["request"].clone();
    let url = format!("/api/projects/{pid}/local-publications");

    let mut wrong_project = request.clone();
    wrong_project["project_ref"] = json!("studio:another-project");
    let (status, body) = app.post(&url, &wrong_project).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["detail"],
        "project_ref must match the Studio project being published."
    );

    let mut no_revision = request.clone();
    no_revision["developer_revision_ref"] = json!("");
    let (status, body) = app.post(&url, &no_revision).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("developer_revision_ref is required"),
        "{body}"
    );

    let mut tampered = request.clone();
    tampered["service_definition"]["compiled_contract_identity"]["signature"] =
        json!("0".repeat(64));
    let (status, body) = app.post(&url, &tampered).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("own compiled contract signature"),
        "{body}"
    );

    let mut other_product = request.clone();
    other_product["lineage"]["product_revision"]["artifact_id"] =
        json!(format!("{pid}-product-design-revision-9"));
    let (status, body) = app.post(&url, &other_product).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("product revision"),
        "{body}"
    );

    // A newer saved revision makes the old package stale.
    let mut changed = sound_definition();
    changed["rationale"] = json!(["second thoughts"]);
    app.put(
        &format!("/api/projects/{pid}/developer/definition"),
        &json!({"data": changed}),
    )
    .await;
    assert_eq!(
        app.post(
            &format!("/api/projects/{pid}/developer/definition/revisions"),
            &json!({})
        )
        .await
        .0,
        201
    );
    let (status, body) = app.post(&url, &request).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Save the current draft as a new revision"),
        "{body}"
    );

    // Nothing was written by any refusal.
    let (_, list) = app.get(&url).await;
    assert_eq!(list, json!([]));
}

#[actix_web::test]
async fn definitions_with_findings_are_not_published() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Unfinished").await;
    let mut weak = sound_definition();
    weak["capability_formalizations"][0]["summary"] = json!("");
    weak["capability_formalizations"][0]["title"] = json!("");
    app.put(
        &format!("/api/projects/{pid}/developer/definition"),
        &json!({"data": weak}),
    )
    .await;
    let (status, saved) = app
        .post(
            &format!("/api/projects/{pid}/developer/definition/revisions"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let codes: Vec<&str> = saved["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["capability_title_missing", "capability_summary_missing"]
    );
    let (_, package) = app.get(&format!("/api/projects/{pid}/package")).await;
    assert_eq!(package["publishable"], false);
    assert_eq!(
        package["request"]["manifest"]["agent_consumption_readiness"]["status"],
        "blocked"
    );
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("capability_title_missing"),
        "{body}"
    );
    // Sending the package anyway fails the readiness checks.
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &package["request"],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("agent_consumption_readiness_ready"),
        "{body}"
    );
}

#[actix_web::test]
async fn registry_publication_needs_a_token_a_sound_package_and_a_reachable_registry() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Remote").await;
    let (_, package) = app.get(&format!("/api/projects/{pid}/package")).await;
    let (status, body) = app
        .post("/api/registry/publications", &package["request"])
        .await;
    assert_eq!(status, 400, "no token: {body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("STUDIO_REGISTRY_PUBLISH_TOKEN"));

    // A closed loopback port stands for an unreachable Registry.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let settings = Settings {
        registry_url: Some(format!("http://127.0.0.1:{port}/registry-api/v1")),
        registry_publish_token: Some(signing::Secret::new("publish-secret-token")),
        ..Settings::for_tests()
    };
    let (base, handle) = app.serve_again(settings);
    let http = reqwest::Client::new();
    let post = |path: &str, body: &Value| http.post(format!("{base}{path}")).json(body).send();

    let (status, body) = status_json(
        post("/api/registry/publications", &package["request"])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.to_string().contains("publish-secret-token"));

    let mut bad = package["request"].clone();
    bad["project_ref"] = json!("");
    let (status, _) = status_json(post("/api/registry/publications", &bad).await.unwrap()).await;
    assert_eq!(status, 422);
    let (status, _) = status_json(
        post("/api/registry/publications", &json!([1]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    bad["project_ref"] = json!(pid);
    bad["contract_signature"] = json!("forged");
    let (status, body) = status_json(post("/api/registry/publications", &bad).await.unwrap()).await;
    assert_eq!(status, 422, "the guard runs before forwarding: {body}");

    // Settings from the environment are locked.
    let response = http
        .put(format!("{base}/api/settings"))
        .json(&json!({"registry_url": "http://elsewhere"}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("STUDIO_REGISTRY_URL"));
    let (status, body) = status_json(
        http.get(format!("{base}/api/settings"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["registry"]["url"]["locked"], true);
    assert_eq!(body["registry"]["publish_token_configured"], true);
    assert!(!body.to_string().contains("publish-secret-token"));

    // Templates: unreachable Registry lists nothing, with a warning.
    let (status, body) = status_json(
        http.get(format!("{base}/api/registry/templates"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    handle.stop(false).await;
}

struct Answer {
    request: Value,
    package: PackageRecord,
    receipt: Receipt,
    keys: RegistryKeys,
}

/// A Registry's answer to a publication, made of an upstream bundle.
fn answer(bundle: &Value) -> Answer {
    Answer {
        request: json!({
            "package_id": bundle["package"]["package_id"],
            "package_version": bundle["package"]["package_version"],
            "contract_signature": bundle["package"]["contract_signature"],
        }),
        package: PackageRecord::from_value(bundle["package"].clone()).unwrap(),
        receipt: serde_json::from_value(bundle["receipt"].clone()).unwrap(),
        keys: serde_json::from_value(
            json!({"signing_mode": "dev", "items": bundle["registry_keys"]}),
        )
        .unwrap(),
    }
}

fn policy(mode: Option<&str>, key: Option<&str>) -> TrustPolicy {
    TrustPolicy {
        required_mode: mode.map(str::to_owned),
        trusted_key_id: key.map(str::to_owned),
    }
}

#[test]
fn genuine_upstream_receipts_verify_and_policy_or_tampering_makes_them_untrusted() {
    for name in [
        "gitlab-fronting-showcase-0.2.0",
        "linear-fronting-showcase-0.2.0",
        "slack-fronting-showcase-0.2.0",
    ] {
        let bundle = fixture(&format!("registry-bundles/{name}.anip-package.json"));
        let a = answer(&bundle);
        let key_id = bundle["receipt"]["key_id"].as_str().unwrap().to_owned();
        let judge = |package: &PackageRecord, keys: Result<&RegistryKeys, &str>, policy| {
            verdict(&a.request, package, &a.receipt, keys, &policy)
        };

        let trusted = judge(&a.package, Ok(&a.keys), policy(Some("dev"), Some(&key_id)));
        assert_eq!(trusted.verdict, "verified", "{name}: {:?}", trusted.checks);
        assert!(trusted.verified());
        assert_eq!(trusted.payload_version.as_deref(), Some("legacy"));
        assert_eq!(trusted.receipt_key_id, key_id);
        // The shared verifier's named checks, then Studio's own.
        let names: Vec<&str> = trusted.checks.iter().map(|c| c.name.as_str()).collect();
        for expected in [
            "identity",
            "manifest_digest",
            "signature",
            "required_mode",
            "trusted_key_id",
            "lifecycle",
            "contract_signature",
        ] {
            assert!(names.contains(&expected), "{name}: {names:?}");
        }

        let production = judge(&a.package, Ok(&a.keys), policy(Some("production"), None));
        assert_eq!(production.verdict, "untrusted");
        assert!(
            production.summary.contains("required_mode"),
            "{}",
            production.summary
        );

        let pinned = judge(&a.package, Ok(&a.keys), policy(None, Some("another-key")));
        assert!(
            pinned.summary.contains("trusted_key_id"),
            "{}",
            pinned.summary
        );

        let mut tampered = bundle["package"].clone();
        tampered["manifest"]["name"] = json!("tampered");
        let tampered = PackageRecord::from_value(tampered).unwrap();
        let broken = judge(&tampered, Ok(&a.keys), TrustPolicy::default());
        assert_eq!(broken.verdict, "untrusted");
        assert!(
            broken.summary.contains("manifest_digest"),
            "{}",
            broken.summary
        );

        let no_keys = judge(
            &a.package,
            Ok(&RegistryKeys::default()),
            TrustPolicy::default(),
        );
        assert!(
            no_keys.summary.contains("key_advertised"),
            "{}",
            no_keys.summary
        );
        let unreadable = judge(&a.package, Err("connection failed"), TrustPolicy::default());
        assert_eq!(unreadable.verdict, "untrusted");
        assert!(
            unreadable.summary.contains("keys could not be read"),
            "{}",
            unreadable.summary
        );

        let mut other_contract = a.request.clone();
        other_contract["contract_signature"] = json!("sha256:other");
        let swapped = verdict(
            &other_contract,
            &a.package,
            &a.receipt,
            Ok(&a.keys),
            &TrustPolicy::default(),
        );
        assert!(
            swapped.summary.contains("contract_signature"),
            "{}",
            swapped.summary
        );
    }
}

/// With `STUDIO_REGISTRY_PUBLISH_TOKEN` set and `STUDIO_REGISTRY_URL` not, whoever can reach the
/// API must not be able to point Studio (and so the token) at a Registry of their own: the
/// settings API refuses, and a Registry URL stored before the token was configured is ignored.
#[actix_web::test]
async fn an_environment_publish_token_is_never_sent_to_a_registry_url_set_through_the_api() {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use std::sync::{Arc, Mutex};

    // Someone else's server: it records the authorization it is sent and claims success.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let elsewhere_server = HttpServer::new(move || {
        App::new()
            .app_data(recorded.clone())
            .default_service(web::to(
                |req: HttpRequest, seen: web::Data<Arc<Mutex<Vec<String>>>>| async move {
                    let authorization = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().push(authorization);
                    HttpResponse::Created().json(json!({"items": []}))
                },
            ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let elsewhere_handle = elsewhere_server.handle();
    actix_web::rt::spawn(elsewhere_server);
    let elsewhere = format!("http://127.0.0.1:{port}/registry-api/v1");

    let with_token = Settings {
        registry_publish_token: Some(signing::Secret::new("publish-secret-token")),
        ..Settings::for_tests()
    };
    let app = spawn(with_token.clone()).await;
    let pid = project(&app, "Template Source").await;
    let (status, body) = app
        .put("/api/settings", &json!({"registry_url": elsewhere}))
        .await;
    assert_eq!(status, 409, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("registry_url") && detail.contains("STUDIO_REGISTRY_PUBLISH_TOKEN"),
        "{detail}"
    );
    let (_, view) = app.get("/api/settings").await;
    assert_eq!(view["registry"]["url"]["locked"], true, "{view}");
    assert_eq!(
        view["registry"]["url"]["locked_by"],
        "STUDIO_REGISTRY_PUBLISH_TOKEN"
    );
    let (status, body) = app
        .post("/api/registry/templates", &json!({"project_id": pid}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("STUDIO_REGISTRY_URL"));

    // Stored while no token was configured: allowed then, ignored once the token is set.
    let (open, open_handle) = app.serve_again(Settings::for_tests());
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{open}/api/settings"))
        .json(&json!({"registry_url": elsewhere}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = app
        .post("/api/registry/templates", &json!({"project_id": pid}))
        .await;
    assert_eq!(status, 400, "the stored URL is not used: {body}");
    let (status, body) = app.get("/api/registry/templates").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]), "{body}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "the token was sent elsewhere"
    );
    open_handle.stop(false).await;
    elsewhere_handle.stop(false).await;
}

/// Regression: a clone of a publishable project carried the source's contract signature into
/// a revision whose ids (and so contract) the clone had rewritten: a `contract_signature_drift`
/// blocker, and saving a new revision was refused with "Nothing changed". The clone now
/// re-signs its revisions, and copies no publication records (they belong to the source).
#[actix_web::test]
async fn a_clone_of_a_publishable_project_is_publishable() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Expense Approvals").await;
    let (status, publication) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({"package_version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, 201, "{publication}");

    let (status, clone) = app
        .post(
            &format!("/api/projects/{pid}/clone"),
            &json!({"id": "clone1"}),
        )
        .await;
    assert_eq!(status, 201, "{clone}");
    let (status, package) = app.get("/api/projects/clone1/package").await;
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["publishable"], true, "{}", package["findings"]);
    let request = &package["request"];
    assert_eq!(request["project_ref"], "clone1");
    assert_eq!(
        request["service_definition"]["compiled_contract_identity"]["signature"],
        request["contract_signature"]
    );
    let (_, local) = app.get("/api/projects/clone1/local-publications").await;
    assert_eq!(local, json!([]), "publications belong to the source");
    let (status, body) = app
        .post(
            "/api/projects/clone1/local-publications",
            &json!({"package_version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, 201, "the clone publishes on its own: {body}");
    let (_, source) = app.get(&format!("/api/projects/{pid}/package")).await;
    assert_eq!(source["publishable"], true, "{}", source["findings"]);
}

/// A clone copies no Registry publication records either; and a revision that drifted (here:
/// compiled by upstream's code) can be fixed as the blocker says, by saving a new revision.
#[actix_web::test]
async fn clones_copy_no_registry_publications_and_drift_is_fixed_by_saving() {
    let app = spawn_default().await;
    let mut snapshot = fixture(SNAPSHOTS[1]);
    let pid = snapshot["project"]["id"].as_str().unwrap().to_owned();
    snapshot["records"]["pm_artifacts"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "id": format!("{pid}-registry-publication-1"),
            "project_id": pid,
            "title": "Registry Publication linear@1.0.0",
            "status": "frozen",
            "data": {"artifact_type": "developer_registry_publication",
                     "publication": {"package_id": "linear", "package_version": "1.0.0"}},
        }));
    let (status, body) = app.post("/api/project-snapshots/import", &snapshot).await;
    assert_eq!(status, 200, "{body}");
    let (status, clone) = app
        .post(
            &format!("/api/projects/{pid}/clone"),
            &json!({"id": "clone2"}),
        )
        .await;
    assert_eq!(status, 201, "{clone}");
    let (_, remote) = app.get("/api/projects/clone2/registry-publications").await;
    assert_eq!(remote, json!([]));
    let (_, remote) = app
        .get(&format!("/api/projects/{pid}/registry-publications"))
        .await;
    assert_eq!(remote.as_array().unwrap().len(), 1);

    for project in [pid.as_str(), "clone2"] {
        let (_, package) = app.get(&format!("/api/projects/{project}/package")).await;
        assert_eq!(
            package["findings"][0]["code"], "contract_signature_drift",
            "{project}: a drift in the source is kept, not papered over"
        );
        let (status, saved) = app
            .post(
                &format!("/api/projects/{project}/developer/definition/revisions"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 201, "{project}: {saved}");
        let (_, package) = app.get(&format!("/api/projects/{project}/package")).await;
        assert!(
            !package["findings"]
                .to_string()
                .contains("contract_signature_drift"),
            "{project}: {}",
            package["findings"]
        );
        let (status, again) = app
            .post(
                &format!("/api/projects/{project}/developer/definition/revisions"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 422, "{project}: nothing changed now: {again}");
    }
}

/// Regression: a bad template id was reported as "invalid package_id".
#[actix_web::test]
async fn template_errors_name_the_template_fields() {
    let app = spawn_default().await;
    let pid = project(&app, "Templates").await;
    let (status, body) = app
        .get(&format!("/api/projects/{pid}/template?template_id=../../x"))
        .await;
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("invalid template_id"), "{body}");
    let (status, body) = app
        .get(&format!(
            "/api/projects/{pid}/template?template_version=x.y"
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid template_version"),
        "{body}"
    );
}
