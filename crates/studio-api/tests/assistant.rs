//! The assistant proposes; only accepting writes. The rule-based provider is the default; the
//! OpenAI-compatible one is exercised against a loopback stand-in for the model API (an
//! external service, not one of ours), which also proves the key goes only where it should.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::*;
use serde_json::{json, Value};
use studio_api::config::Settings;

async fn upload_spec(app: &TestApp, pid: &str) {
    let response = app
        .http
        .post(app.url(&format!(
            "/api/projects/{pid}/documents?filename=spec.md&kind=business_spec"
        )))
        .header("content-type", "text/markdown")
        .body(SPEC)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn pm_count(app: &TestApp, pid: &str) -> usize {
    app.get(&format!("/api/projects/{pid}/pm-artifacts"))
        .await
        .1
        .as_array()
        .unwrap()
        .len()
}

#[actix_web::test]
async fn rule_based_drafts_are_only_written_when_accepted() {
    let app = spawn_default().await;
    let pid = project(&app, "Assisted").await;
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/assistant/sections"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 422, "no documents yet: {body}");
    upload_spec(&app, &pid).await;

    let (status, proposal) = app
        .post(
            &format!("/api/projects/{pid}/assistant/sections"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{proposal}");
    assert_eq!(proposal["provider"], "deterministic");
    assert_eq!(
        proposal["sections"]["actor_model"]["actors"][0]["actor_id"],
        "employee"
    );
    assert_eq!(pm_count(&app, &pid).await, 0, "a proposal writes nothing");

    let (status, accepted) = app
        .post(
            &format!("/api/projects/{pid}/assistant/accept"),
            &json!({
        "kind": "sections", "proposal": proposal, "accepted": ["product_summary", "actor_model"]}),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["written"].as_array().unwrap().len(), 2);
    let (_, product) = app.get(&format!("/api/projects/{pid}/product")).await;
    assert_eq!(
        product["sections"][0]["artifact"]["data"]["product_purpose"],
        "Employees submit expense reports; managers approve them within policy."
    );
    assert!(
        product["sections"][2]["artifact"].is_null(),
        "business_areas was not accepted"
    );
    assert_eq!(
        pm_count(&app, &pid).await,
        3,
        "two sections and the acceptance record"
    );

    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/assistant/accept"),
            &json!({
        "kind": "sections", "proposal": proposal, "accepted": ["not_a_section"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn accepted_capabilities_land_in_the_developer_definition() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Capabilities").await;
    upload_spec(&app, &pid).await;
    let (status, proposal) = app
        .post(
            &format!("/api/projects/{pid}/assistant/capabilities"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{proposal}");
    let candidates = proposal["candidates"].as_array().unwrap();
    let approve = candidates
        .iter()
        .find(|c| c["capability_id"] == "expenses.reports.approve")
        .expect("approve candidate");
    assert_eq!(approve["side_effect_level"], "approval_required");
    let (status, accepted) = app
        .post(
            &format!("/api/projects/{pid}/assistant/accept"),
            &json!({
        "kind": "capabilities", "proposal": proposal, "accepted": [approve["client_id"]]}),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    let (_, definition) = app
        .get(&format!("/api/projects/{pid}/developer/definition"))
        .await;
    let ids: Vec<&str> = definition["definition"]["data"]["capability_formalizations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["capability_id"].as_str())
        .collect();
    assert!(ids.contains(&"expenses.reports.approve"), "{ids:?}");
    assert_eq!(definition["unsaved_changes"], true);
}

/// What the stand-in model API saw.
#[derive(Default)]
struct Seen {
    authorization: Vec<String>,
    bodies: Vec<Value>,
}

async fn chat(
    req: HttpRequest,
    body: web::Json<Value>,
    seen: web::Data<Arc<Mutex<Seen>>>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut seen = seen.lock().unwrap();
    seen.authorization.push(authorization.clone());
    seen.bodies.push(body.into_inner());
    if authorization != "Bearer sk-test-key-123" {
        return HttpResponse::Unauthorized().json(json!({"error": {"message": "bad key"}}));
    }
    let wants_candidates = seen.bodies.last().unwrap()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("candidates");
    let content = if wants_candidates {
        json!({"candidates": [{"capability_id": "expenses.report.approve", "title": "Approve", "summary": "Approve a report.", "side_effect_level": "approval_required", "inputs": []},
                              {"capability_id": "Not An Id", "title": "dropped"}]})
    } else {
        json!({"sections": {"product_summary": {"product_purpose": "From the model."}, "bogus": {"x": 1}}, "questions": ["Who approves?"]})
    };
    HttpResponse::Ok().json(
        json!({"choices": [{"message": {"role": "assistant", "content": content.to_string()}}]}),
    )
}

#[actix_web::test]
async fn openai_compatible_provider_uses_the_key_only_as_a_bearer_header() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let data = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let model_api = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/chat/completions", web::post().to(chat))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let model_handle = model_api.handle();
    actix_web::rt::spawn(model_api);

    let settings = Settings {
        assistant_model: Some("test-model".into()),
        assistant_api_key: Some(signing::Secret::new("sk-test-key-123")),
        assistant_base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        ..Settings::for_tests()
    };
    let app = spawn(settings).await;
    let pid = project(&app, "Model").await;
    upload_spec(&app, &pid).await;

    let (status, proposal) = app
        .post(
            &format!("/api/projects/{pid}/assistant/sections"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{proposal}");
    assert_eq!(proposal["provider"], "openai_compatible:test-model");
    assert_eq!(
        proposal["sections"]["product_summary"]["product_purpose"],
        "From the model."
    );
    assert!(
        proposal["sections"].get("bogus").is_none(),
        "unknown sections are dropped"
    );
    assert_eq!(proposal["questions"], json!(["Who approves?"]));

    let (status, proposal) = app
        .post(
            &format!("/api/projects/{pid}/assistant/capabilities"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{proposal}");
    assert_eq!(
        proposal["candidates"].as_array().unwrap().len(),
        1,
        "invalid ids are dropped"
    );

    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.authorization,
            ["Bearer sk-test-key-123", "Bearer sk-test-key-123"]
        );
        assert_eq!(seen.bodies[0]["model"], "test-model");
        let prompt = seen.bodies[0]["messages"][1]["content"].as_str().unwrap();
        assert!(
            prompt.contains("Employees submit expense reports"),
            "documents are sent"
        );
        assert!(!prompt.contains("sk-test-key-123"));
    }

    let (_, status_body) = app.get("/api/runtime-status").await;
    assert_eq!(status_body["llm_ready"], true);
    assert_eq!(status_body["api_key_configured"], true);
    for path in [
        "/api/runtime-status",
        "/api/settings",
        &format!("/api/projects/{pid}/export"),
    ] {
        let (_, body) = app.get(path).await;
        assert!(
            !body.to_string().contains("sk-test-key-123"),
            "the key leaked into {path}"
        );
    }

    // The model API refusing the call is a 502 that does not echo the key.
    let wrong = Settings {
        assistant_model: Some("test-model".into()),
        assistant_api_key: Some(signing::Secret::new("sk-wrong-key-456")),
        assistant_base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        ..Settings::for_tests()
    };
    let (base, handle) = app.serve_again(wrong);
    let response = reqwest::Client::new()
        .post(format!("{base}/api/projects/{pid}/assistant/sections"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.to_string().contains("sk-wrong-key-456"));
    handle.stop(false).await;
    model_handle.stop(false).await;
}

/// A loopback stand-in for a model API recording what it is sent; its port.
fn model_api(seen: Arc<Mutex<Seen>>) -> (u16, actix_web::dev::ServerHandle) {
    let data = web::Data::new(seen);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/chat/completions", web::post().to(chat))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (port, handle)
}

/// With `STUDIO_ASSISTANT_API_KEY` set and `STUDIO_ASSISTANT_BASE_URL` not, whoever can reach the
/// API must not be able to point the assistant (and so the key) at a server of their own: the
/// settings API refuses, and a base URL stored before the key was configured is ignored.
#[actix_web::test]
async fn an_environment_api_key_is_never_sent_to_a_base_url_set_through_the_api() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (port, model_handle) = model_api(seen.clone());
    let elsewhere = format!("http://127.0.0.1:{port}/v1");
    let with_key = Settings {
        assistant_api_key: Some(signing::Secret::new("sk-test-key-123")),
        ..Settings::for_tests()
    };
    let app = spawn(with_key.clone()).await;
    let pid = project(&app, "Locked").await;
    upload_spec(&app, &pid).await;

    let (status, body) = app
        .put(
            "/api/settings",
            &json!({"assistant_base_url": elsewhere, "assistant_model": "x"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("assistant_base_url") && detail.contains("STUDIO_ASSISTANT_API_KEY"),
        "{detail}"
    );
    let (status, view) = app.get("/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(view["assistant"]["base_url"]["locked"], true, "{view}");
    assert_eq!(
        view["assistant"]["base_url"]["locked_by"],
        "STUDIO_ASSISTANT_API_KEY"
    );
    assert_eq!(view["assistant"]["model"]["value"], Value::Null, "{view}");
    let (status, proposal) = app
        .post(
            &format!("/api/projects/{pid}/assistant/sections"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{proposal}");
    assert_eq!(proposal["provider"], "deterministic");

    // Stored while no key was configured: allowed then, ignored once the key is set.
    let (open, open_handle) = app.serve_again(Settings::for_tests());
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{open}/api/settings"))
        .json(&json!({"assistant_base_url": elsewhere}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (locked, locked_handle) = app.serve_again(with_key);
    for path in ["/api/runtime-status", "/api/settings"] {
        let (status, body) =
            status_json(http.get(format!("{locked}{path}")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert!(
            !body.to_string().contains(&elsewhere),
            "{path} uses the stored URL: {body}"
        );
    }
    assert!(
        seen.lock().unwrap().authorization.is_empty(),
        "the key was sent elsewhere"
    );
    open_handle.stop(false).await;
    locked_handle.stop(false).await;
    model_handle.stop(false).await;
}

/// Regression: a bad accepted key used to be refused only after the keys before it were
/// written. Every accepted item is now checked first, and all are written in one transaction.
#[actix_web::test]
async fn accepting_is_all_or_nothing() {
    let app = spawn_default().await;
    let pid = project(&app, "Half written").await;
    let proposal = json!({"sections": {
        "non_goals": {"entries": [{"non_goal": "X"}]},
        "success_criteria": "not an object",
    }});
    for (accepted, status) in [
        (json!(["non_goals", "bogus"]), 400),
        (json!(["non_goals", "actor_model"]), 422),
        (json!(["non_goals", "success_criteria"]), 422),
        (json!(["non_goals", "non_goals"]), 422),
    ] {
        let (got, body) = app
            .post(
                &format!("/api/projects/{pid}/assistant/accept"),
                &json!({"kind": "sections", "proposal": proposal, "accepted": accepted}),
            )
            .await;
        assert_eq!(got, status, "{accepted}: {body}");
        assert_eq!(
            pm_count(&app, &pid).await,
            0,
            "{accepted}: nothing written, not even the acceptance record"
        );
    }
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/assistant/accept"),
            &json!({"kind": "sections", "proposal": proposal, "accepted": ["non_goals"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        pm_count(&app, &pid).await,
        2,
        "the section and the acceptance"
    );
}
