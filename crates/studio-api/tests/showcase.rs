//! The built-in showcase (`showcases/expense-approvals-showcase-0.1.0.studio-project-snapshot.json`),
//! embedded in the binary so a fresh clone or a bare container seeds something.
//!
//! It is authored through Studio's own API by `builtin_showcase_authors_through_the_api`, which
//! runs with every test run; to rewrite the committed file:
//! `STUDIO_WRITE_SHOWCASE=1 cargo test -p studio-api --test showcase`.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use studio_api::service::snapshots;
use studio_api::store::Db;

const PROJECT: &str = "expense-approvals-showcase";

async fn author(app: &TestApp) -> Value {
    let (status, body) = app.post("/api/projects", &json!({
        "id": PROJECT, "name": "Expense Approvals Showcase", "domain": "expenses",
        "summary": "Employees submit expense reports; managers approve them within policy; agents help through governed ANIP capabilities.",
        "labels": ["showcase", "expenses"], "project_type": "standard"})).await;
    assert_eq!(status, 201, "{body}");
    let response = app.http
        .post(app.url(&format!("/api/projects/{PROJECT}/documents?filename=expense-approvals-spec.md&kind=business_spec&title=Expense%20approvals%20specification")))
        .header("content-type", "text/markdown").body(SPEC).send().await.unwrap();
    assert_eq!(response.status(), 201);

    // Product design: drafted by the assistant from the spec, accepted, then completed by hand.
    let (_, proposal) = app
        .post(
            &format!("/api/projects/{PROJECT}/assistant/sections"),
            &json!({}),
        )
        .await;
    let (status, body) = app.post(&format!("/api/projects/{PROJECT}/assistant/accept"), &json!({
        "kind": "sections", "proposal": proposal,
        "accepted": ["product_summary", "actor_model", "business_areas", "permission_intent", "non_goals", "success_criteria"]})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/projects/{PROJECT}/product/revisions"),
            &json!({"expected_previous_revision": null}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let (_, requirements) = app.post(&format!("/api/projects/{PROJECT}/requirements"), &json!({"id": "expense-approvals-requirements", "title": "Expense approval requirements",
        "data": {"system": {"name": "expense_approvals", "domain": "expenses"}, "must": ["Approvals need a manager's grant", "Every approval is audited"]}})).await;
    let (_, scenario) = app.post(&format!("/api/projects/{PROJECT}/scenarios"), &json!({"id": "expense-approvals-scenario-approve", "title": "A manager approves a report",
        "data": {"scenario": {"name": "approve_report", "steps": ["look up the report", "approve it with a one-time grant"]}}})).await;
    let (_, shape) = app.post(&format!("/api/projects/{PROJECT}/shapes"), &json!({"id": "expense-approvals-shape", "title": "Expense approvals service", "requirements_id": requirements["id"],
        "data": {"shape": {"type": "single_service", "name": "Expense approvals",
                           "services": [{"id": "expenses-service", "name": "Expenses", "owns_concepts": ["expense_report"], "capabilities": ["expenses.report.lookup", "expenses.report.approve"]}],
                           "domain_concepts": [{"id": "expense_report", "owner": "expenses-service"}], "coordination": []}}})).await;
    let (status, body) = app.post(&format!("/api/projects/{PROJECT}/evaluations"), &json!({"id": "expense-approvals-evaluation-approve",
        "scenario_id": scenario["id"], "requirements_id": requirements["id"], "shape_id": shape["id"], "source": "manual",
        "data": {"evaluation": {"result": "HANDLED", "notes": "Both steps map to declared capabilities."}}})).await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = app
        .post(
            &format!("/api/projects/{PROJECT}/developer/baseline"),
            &json!({"note": "Product design revision 1 handed to development."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut definition = sound_definition();
    definition["rationale"] = json!([
        "Two governed capabilities cover the approval scenario; approval needs a one-time grant."
    ]);
    let (status, body) = app
        .put(
            &format!("/api/projects/{PROJECT}/developer/definition"),
            &json!({"data": definition}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/projects/{PROJECT}/developer/definition/revisions"),
            &json!({"expected_previous_revision": null}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/projects/{PROJECT}/local-publications"),
            &json!({"package_id": "expense-approvals-showcase", "package_version": "0.1.0"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, snapshot) = app.get(&format!("/api/projects/{PROJECT}/export")).await;
    assert_eq!(status, 200);
    snapshot
}

/// Authors the showcase through the API, every step checked; with `STUDIO_WRITE_SHOWCASE=1` it
/// also rewrites the committed snapshot.
#[actix_web::test]
async fn builtin_showcase_authors_through_the_api() {
    let app = spawn_default().await;
    let snapshot = author(&app).await;
    if std::env::var("STUDIO_WRITE_SHOWCASE").as_deref() == Ok("1") {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/showcases/expense-approvals-showcase-0.1.0.studio-project-snapshot.json"
        );
        std::fs::write(
            path,
            serde_json::to_string_pretty(&snapshot).unwrap() + "\n",
        )
        .unwrap();
    }
}

#[actix_web::test]
async fn builtin_showcase_is_a_complete_publishable_project() {
    let app = spawn_default().await;
    let report = snapshots::seed_showcases(&Db::new(app.pool.clone()), None)
        .await
        .unwrap();
    assert_eq!(
        report.snapshots,
        vec![(
            "expense-approvals-showcase-0.1.0.studio-project-snapshot.json".to_owned(),
            PROJECT.to_owned(),
            "imported".to_owned()
        )]
    );
    let (_, project) = app.get(&format!("/api/projects/{PROJECT}")).await;
    assert_eq!(project["workspace_id"], "showcase");
    let (_, product) = app.get(&format!("/api/projects/{PROJECT}/product")).await;
    assert_eq!(product["unsaved_changes"], false);
    let (_, baseline) = app
        .get(&format!("/api/projects/{PROJECT}/developer/baseline"))
        .await;
    assert_eq!(baseline["drift"], json!([]));
    let (_, evaluations) = app
        .get(&format!("/api/projects/{PROJECT}/evaluations"))
        .await;
    assert_eq!(evaluations[0]["is_stale"], false);
    // The recorded contract signature is what Studio compiles from the imported revision.
    let (_, package) = app
        .get(&format!(
            "/api/projects/{PROJECT}/package?package_version=0.2.0"
        ))
        .await;
    assert_eq!(package["publishable"], true, "{}", package["findings"]);
    let (_, publications) = app
        .get(&format!("/api/projects/{PROJECT}/local-publications"))
        .await;
    let id = publications[0]["id"].as_str().unwrap();
    let (_, verification) = app
        .post(
            &format!("/api/projects/{PROJECT}/local-publications/{id}/verify"),
            &json!({}),
        )
        .await;
    assert_eq!(verification["status"], "ok", "{verification}");
    // And it can be published again under a new version.
    let (status, body) = app
        .post(
            &format!("/api/projects/{PROJECT}/local-publications"),
            &json!({"package_version": "0.2.0"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
