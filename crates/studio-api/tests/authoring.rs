//! The authoring model over real HTTP and a real Postgres: workspaces, projects, documents,
//! design records, product revisions, baseline, developer revisions, history.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::multipart;
use serde_json::{json, Value};
use studio_api::hashing::content_hash;

#[actix_web::test]
async fn default_workspace_exists_and_deleting_a_workspace_deletes_its_projects() {
    let app = spawn_default().await;
    let (status, list) = app.get("/api/workspaces").await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == "default"),
        "{list}"
    );
    assert_eq!(app.delete("/api/workspaces/default").await, 409);

    let (status, ws) = app
        .post(
            "/api/workspaces",
            &json!({"id": "team-a", "name": "Team A"}),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    assert_eq!(
        app.post("/api/workspaces", &json!({"id": "team-a", "name": "again"}))
            .await
            .0,
        409
    );
    let (status, p) = app
        .post(
            "/api/projects",
            &json!({"name": "P", "workspace_id": "team-a"}),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let pid = p["id"].as_str().unwrap();
    let (_, ws) = app.get("/api/workspaces/team-a").await;
    assert_eq!(ws["projects_count"], 1);

    // Connections hold references to secrets, never secrets.
    let (status, c) = app.post("/api/workspaces/team-a/connections", &json!({
        "display_name": "GitLab", "backend_kind": "native_api", "auth_mode": "service_delegated", "secret_ref": "GITLAB_TOKEN"})).await;
    assert_eq!(status, 201, "{c}");
    let (status, refused) = app.post("/api/workspaces/team-a/connections", &json!({
        "display_name": "GitLab", "backend_kind": "native_api", "auth_mode": "service_delegated", "secret_ref": "glpat-abcdefghijklmnopqrstu"})).await;
    assert_eq!(status, 422, "{refused}");

    assert_eq!(app.delete("/api/workspaces/team-a").await, 204);
    assert_eq!(app.get(&format!("/api/projects/{pid}")).await.0, 404);
    assert_eq!(app.get("/api/workspaces/team-a").await.0, 404);
}

#[actix_web::test]
async fn documents_keep_their_bytes_and_hash() {
    let app = spawn_default().await;
    let pid = project(&app, "Docs").await;

    // multipart/form-data, as the HTML form sends it.
    let form = multipart::Form::new()
        .part(
            "file",
            multipart::Part::bytes(SPEC.as_bytes().to_vec())
                .file_name("spec.md")
                .mime_str("text/markdown")
                .unwrap(),
        )
        .text("kind", "business_spec")
        .text("title", "Spec");
    let response = app
        .http
        .post(app.url(&format!("/api/projects/{pid}/documents")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, doc) = status_json(response).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["content_hash"], signing::sha256_hex(SPEC.as_bytes()));
    assert_eq!(doc["kind"], "business_spec");
    assert_eq!(doc["media_type"], "text/markdown");
    assert_eq!(doc["size_bytes"], SPEC.len());

    // Raw bytes, binary, with ?filename=.
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let response = app
        .http
        .post(app.url(&format!("/api/projects/{pid}/documents?filename=blob.bin")))
        .header("content-type", "application/octet-stream")
        .body(binary.clone())
        .send()
        .await
        .unwrap();
    let (status, blob) = status_json(response).await;
    assert_eq!(status, 201, "{blob}");

    // JSON with base64 (upstream's form).
    use base64::Engine;
    let (status, json_doc) = app
        .post(
            &format!("/api/projects/{pid}/documents"),
            &json!({
        "id": "doc-api", "title": "API", "kind": "api_docs", "filename": "api.json",
        "content_base64": base64::engine::general_purpose::STANDARD.encode(b"{\"a\": 1}")}),
        )
        .await;
    assert_eq!(status, 201, "{json_doc}");
    assert_eq!(json_doc["media_type"], "application/json");

    let (status, preview) = app
        .get(&format!(
            "/api/projects/{pid}/documents/{}/preview",
            doc["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(preview["content"], SPEC);
    assert_eq!(preview["truncated"], false);
    let (status, _) = app
        .get(&format!(
            "/api/projects/{pid}/documents/{}/preview",
            blob["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 415);

    let response = app
        .http
        .get(app.url(&format!(
            "/api/projects/{pid}/documents/{}/download",
            blob["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("blob.bin"));
    assert_eq!(response.bytes().await.unwrap().to_vec(), binary);

    let (_, list) = app.get(&format!("/api/projects/{pid}/documents")).await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(
        app.delete(&format!("/api/projects/{pid}/documents/doc-api"))
            .await,
        204
    );
    assert_eq!(
        app.delete(&format!("/api/projects/{pid}/documents/doc-api"))
            .await,
        404
    );
}

#[actix_web::test]
async fn content_hashes_are_recomputed_on_every_write_and_evaluations_go_stale() {
    let app = spawn_default().await;
    let pid = project(&app, "Hashes").await;
    let data = json!({"system": {"name": "é"}, "n": 1});
    let (status, req) = app
        .post(
            &format!("/api/projects/{pid}/requirements"),
            &json!({"title": "R", "data": data}),
        )
        .await;
    assert_eq!(status, 201, "{req}");
    assert_eq!(req["content_hash"], content_hash(&data));
    assert_eq!(req["role"], "primary");
    let (_, second) = app
        .post(
            &format!("/api/projects/{pid}/requirements"),
            &json!({"title": "R2", "data": {}}),
        )
        .await;
    assert_eq!(second["role"], "alternative");

    let (_, scn) = app
        .post(
            &format!("/api/projects/{pid}/scenarios"),
            &json!({"title": "S", "data": {"scenario": {"name": "s"}}}),
        )
        .await;
    let (status, bad_shape) = app
        .post(
            &format!("/api/projects/{pid}/shapes"),
            &json!({"title": "Bad", "requirements_id": req["id"],
        "data": {"shape": {"type": "single_service", "services": [{"id": "a"}, {"id": "b"}]}}}),
        )
        .await;
    assert_eq!(status, 422, "{bad_shape}");
    assert!(bad_shape["detail"]
        .as_str()
        .unwrap()
        .contains("exactly 1 service"));
    let (status, shape) = app
        .post(
            &format!("/api/projects/{pid}/shapes"),
            &json!({"title": "Shape", "requirements_id": req["id"],
        "data": {"shape": {"type": "single_service", "services": [{"id": "a"}]}}}),
        )
        .await;
    assert_eq!(status, 201, "{shape}");

    let (status, evaluation) = app
        .post(
            &format!("/api/projects/{pid}/evaluations"),
            &json!({
        "scenario_id": scn["id"], "requirements_id": req["id"], "shape_id": shape["id"],
        "data": {"evaluation": {"result": "PARTIAL"}}}),
        )
        .await;
    assert_eq!(status, 201, "{evaluation}");
    assert_eq!(evaluation["result"], "PARTIAL");
    assert_eq!(evaluation["scenario_hash"], scn["content_hash"]);
    assert_eq!(evaluation["is_stale"], false);

    let new_data = json!({"scenario": {"name": "s", "changed": true}});
    let (status, updated) = app
        .put(
            &format!(
                "/api/projects/{pid}/scenarios/{}",
                scn["id"].as_str().unwrap()
            ),
            &json!({"data": new_data}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["content_hash"], content_hash(&new_data));
    let (_, evaluation) = app
        .get(&format!(
            "/api/projects/{pid}/evaluations/{}",
            evaluation["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(evaluation["is_stale"], true);
    assert_eq!(evaluation["stale_artifacts"], json!(["scenario"]));

    // A scenario still evaluated cannot be deleted.
    let (status, _) = (
        app.delete(&format!(
            "/api/projects/{pid}/scenarios/{}",
            scn["id"].as_str().unwrap()
        ))
        .await,
        (),
    );
    assert_eq!(status, 409);

    // Optimistic writes: a stale expected hash loses.
    let path = format!(
        "/api/projects/{pid}/requirements/{}",
        req["id"].as_str().unwrap()
    );
    let (status, _) = app
        .put(
            &path,
            &json!({"data": {"v": 2}, "expected_content_hash": req["content_hash"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, conflict) = app
        .put(
            &path,
            &json!({"data": {"v": 3}, "expected_content_hash": req["content_hash"]}),
        )
        .await;
    assert_eq!(status, 409, "{conflict}");
}

#[actix_web::test]
async fn product_revisions_freeze_sections_and_racing_saves_conflict() {
    let app = spawn_default().await;
    let pid = project(&app, "Product").await;
    let (status, _) = app
        .post(
            &format!("/api/projects/{pid}/product/revisions"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 422, "no sections yet");
    let (status, section) = app
        .put(
            &format!("/api/projects/{pid}/product/sections/product_summary"),
            &json!({"data": {"product_purpose": "v1"}}),
        )
        .await;
    assert_eq!(status, 200, "{section}");
    assert_eq!(section["data"]["artifact_type"], "product_summary");
    assert_eq!(section["id"], format!("{pid}-product_summary"));
    let (status, _) = app
        .put(
            &format!("/api/projects/{pid}/product/sections/not_a_section"),
            &json!({"data": {}}),
        )
        .await;
    assert_eq!(status, 404);

    // Two saves of the same revision: one wins, the other is told.
    let url = format!("/api/projects/{pid}/product/revisions");
    let body = json!({"expected_previous_revision": null});
    let (a, b) = tokio::join!(app.post(&url, &body), app.post(&url, &body));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let (_, revisions) = app.get(&url).await;
    assert_eq!(revisions.as_array().unwrap().len(), 1);
    let revision = &revisions[0];
    assert_eq!(revision["data"]["revision_number"], 1);
    assert_eq!(revision["status"], "frozen");
    assert_eq!(
        revision["data"]["snapshot"][0]["data"]["product_purpose"],
        "v1"
    );

    // Unchanged sections: nothing to save. Changed: revision 2, pointing back at 1.
    let (status, _) = app
        .post(&url, &json!({"expected_previous_revision": 1}))
        .await;
    assert_eq!(status, 422);
    app.put(
        &format!("/api/projects/{pid}/product/sections/product_summary"),
        &json!({"data": {"product_purpose": "v2"}}),
    )
    .await;
    let (_, overview) = app.get(&format!("/api/projects/{pid}/product")).await;
    assert_eq!(overview["unsaved_changes"], true);
    let (status, second) = app
        .post(&url, &json!({"expected_previous_revision": 1}))
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        second["data"]["previous_revision_artifact_id"],
        revision["id"]
    );

    // Frozen revisions are immutable through every route.
    let rid = revision["id"].as_str().unwrap();
    let (status, _) = app
        .put(
            &format!("/api/projects/{pid}/pm-artifacts/{rid}"),
            &json!({"title": "edited"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        app.delete(&format!("/api/projects/{pid}/pm-artifacts/{rid}"))
            .await,
        409
    );
    let (status, _) = app.post(&format!("/api/projects/{pid}/pm-artifacts"), &json!({"title": "forged", "data": {"artifact_type": "product_design_revision", "revision_number": 7}})).await;
    assert_eq!(status, 409);

    let (_, history) = app.get(&format!("/api/projects/{pid}/history")).await;
    let changes = &history["product_revisions"][1]["changes"];
    assert_eq!(
        changes,
        &json!([{"path": "/product_summary/product_purpose", "kind": "changed", "before": "v1", "after": "v2"}])
    );
}

#[actix_web::test]
async fn baseline_definition_and_developer_revisions_carry_the_contract_signature() {
    let app = spawn_default().await;
    let pid = project(&app, "Contract").await;
    let (status, body) = app
        .put(
            &format!("/api/projects/{pid}/developer/definition"),
            &json!({"data": sound_definition()}),
        )
        .await;
    assert_eq!(status, 422, "definition before baseline: {body}");
    let pid = authored_project(&app, "Contract 2").await;

    let (_, baseline) = app
        .get(&format!("/api/projects/{pid}/developer/baseline"))
        .await;
    assert_eq!(baseline["drift"], json!([]));
    let inputs = &baseline["baseline"]["data"]["source_inputs"];
    assert_eq!(inputs["product_revision_number"], 1);
    assert_eq!(
        app.post(
            &format!("/api/projects/{pid}/developer/baseline"),
            &json!({})
        )
        .await
        .0,
        409,
        "re-lock needs expected_locked_at"
    );

    let (_, view) = app
        .get(&format!("/api/projects/{pid}/developer/definition"))
        .await;
    assert_eq!(view["findings"], json!([]), "{}", view["findings"]);
    assert_eq!(view["unsaved_changes"], false);
    let revision = &view["latest_revision"];
    let signature = revision["data"]["compiled_contract_identity"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(signature.len(), 64);
    assert_eq!(
        view["definition"]["data"]["compiled_contract_identity"]["signature"],
        signature.as_str()
    );
    assert_eq!(revision["data"]["saved_revision"]["revision_number"], 1);

    // The compiled contract's signature is sha256 over its stable sorted-key JSON.
    let (status, contract) = app
        .get(&format!("/api/projects/{pid}/developer/contract"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        contract["contract_schema_version"],
        "anip-service-definition/v1"
    );
    assert_eq!(
        contract["compiled_contract_identity"]["signature"],
        signature.as_str()
    );
    assert_eq!(studio_api::rules::contract::signature(&contract), signature);

    // A racing second revision save: one wins.
    let mut changed = sound_definition();
    changed["capability_formalizations"][0]["summary"] =
        json!("Look up one report, with its receipts.");
    app.put(
        &format!("/api/projects/{pid}/developer/definition"),
        &json!({"data": changed}),
    )
    .await;
    let url = format!("/api/projects/{pid}/developer/definition/revisions");
    let body = json!({"expected_previous_revision": 1});
    let (a, b) = tokio::join!(app.post(&url, &body), app.post(&url, &body));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let saved = if a.0 == 201 { a.1 } else { b.1 };
    assert_ne!(
        saved["signature"],
        signature.as_str(),
        "a changed contract has a new signature"
    );

    let (_, history) = app.get(&format!("/api/projects/{pid}/history")).await;
    let developer = history["developer_revisions"].as_array().unwrap();
    assert_eq!(developer.len(), 2);
    assert!(developer[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == "/capability_formalizations/0/summary"));

    // Project drift shows on the baseline.
    let (_, scenarios) = app.get(&format!("/api/projects/{pid}/scenarios")).await;
    let sid = scenarios[0]["id"].as_str().unwrap();
    app.put(
        &format!("/api/projects/{pid}/scenarios/{sid}"),
        &json!({"data": {"scenario": {"name": "changed"}}}),
    )
    .await;
    let (_, baseline) = app
        .get(&format!("/api/projects/{pid}/developer/baseline"))
        .await;
    assert_eq!(baseline["drift"][0]["input"], "scenarios");
}

#[actix_web::test]
async fn clone_copies_everything_with_new_ids_and_delete_cascades() {
    let app = spawn_default().await;
    let pid = authored_project(&app, "Original").await;
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(SPEC.as_bytes().to_vec()).file_name("spec.md"),
    );
    let response = app
        .http
        .post(app.url(&format!("/api/projects/{pid}/documents")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let (status, copy) = app
        .post(
            &format!("/api/projects/{pid}/clone"),
            &json!({"name": "Copy"}),
        )
        .await;
    assert_eq!(status, 201, "{copy}");
    let cid = copy["id"].as_str().unwrap();
    assert_ne!(cid, pid);
    let (_, original) = app.get(&format!("/api/projects/{pid}")).await;
    let (_, cloned) = app.get(&format!("/api/projects/{cid}")).await;
    for count in [
        "requirements_count",
        "scenarios_count",
        "shapes_count",
        "documents_count",
        "pm_artifacts_count",
    ] {
        assert_eq!(original[count], cloned[count], "{count}");
    }
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, a) = app.get(&format!("/api/projects/{pid}/pm-artifacts")).await;
    let (_, b) = app.get(&format!("/api/projects/{cid}/pm-artifacts")).await;
    for id in ids(&b) {
        assert!(!ids(&a).contains(&id), "cloned id {id} reused");
    }
    // References point at the copies: the baseline pins the copy's requirements, whose hash
    // is current, so the copy's baseline shows no drift.
    let (_, baseline) = app
        .get(&format!("/api/projects/{cid}/developer/baseline"))
        .await;
    assert_eq!(baseline["drift"], json!([]), "{baseline}");
    let (_, requirements) = app.get(&format!("/api/projects/{cid}/requirements")).await;
    assert_eq!(
        baseline["baseline"]["data"]["source_inputs"]["requirements_id"],
        requirements[0]["id"]
    );
    for record in b.as_array().unwrap() {
        assert_eq!(
            record["content_hash"],
            content_hash(&record["data"]),
            "{}",
            record["id"]
        );
    }

    assert_eq!(app.delete(&format!("/api/projects/{pid}")).await, 204);
    assert_eq!(
        app.get(&format!("/api/projects/{pid}/requirements"))
            .await
            .0,
        404
    );
    let client = app.pool.get().await.unwrap();
    for table in [
        "requirements_sets",
        "scenarios",
        "shapes",
        "pm_artifacts",
        "project_documents",
        "evaluations",
    ] {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE project_id = $1"),
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} rows left after delete");
    }
    assert_eq!(
        app.get(&format!("/api/projects/{cid}")).await.0,
        200,
        "the copy is independent"
    );
}

/// Regression: a multipart upload ignored `?kind=` (it was validated, then "reference" was
/// stored). The query applies; a form field may repeat it but not contradict it.
#[actix_web::test]
async fn multipart_uploads_honour_the_query_kind() {
    let app = spawn_default().await;
    let pid = project(&app, "Kinds").await;
    let part = || {
        multipart::Part::bytes(SPEC.as_bytes().to_vec())
            .file_name("spec.md")
            .mime_str("text/markdown")
            .unwrap()
    };
    let upload = |form: multipart::Form, query: &str| {
        app.http
            .post(app.url(&format!("/api/projects/{pid}/documents{query}")))
            .multipart(form)
            .send()
    };
    let (status, doc) = status_json(
        upload(
            multipart::Form::new().part("file", part()),
            "?kind=api_docs",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["kind"], "api_docs");

    let form = multipart::Form::new()
        .part("file", part())
        .text("kind", "api_docs");
    let (status, doc) = status_json(upload(form, "?kind=api_docs").await.unwrap()).await;
    assert_eq!(
        (status, doc["kind"].as_str()),
        (201, Some("api_docs")),
        "{doc}"
    );

    let form = multipart::Form::new()
        .part("file", part())
        .text("kind", "business_spec");
    let (status, body) = status_json(upload(form, "?kind=api_docs").await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("kind"), "{body}");
    let (_, docs) = app.get(&format!("/api/projects/{pid}/documents")).await;
    assert_eq!(
        docs.as_array().unwrap().len(),
        2,
        "the refused upload stored nothing"
    );
}
