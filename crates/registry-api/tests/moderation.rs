//! Moderation: the admin user list, abuse reports and takedowns, ownership transfers.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

async fn create_publisher(app: &TestApp, id: &str) {
    let (status, body) = app
        .post_json(
            "admin/publishers",
            Some(ADMIN_TOKEN),
            &json!({"publisher_id": id, "publisher_type": "organization"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A publisher with an active namespace of its own name, and a token that may publish there.
async fn publisher_with_namespace(app: &TestApp, id: &str) -> String {
    create_publisher(app, id).await;
    let (status, body) = app
        .post_json(
            &format!("admin/publishers/{id}/tokens"),
            Some(ADMIN_TOKEN),
            &json!({"label": "owner", "scopes": {"operations": ["publish", "manage:publisher", "manage:tokens"]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["bearer_token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post_json(
            "me/namespaces",
            Some(&token),
            &json!({"namespace": id, "artifact_kinds": ["package", "template"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .patch_json(
            &format!("admin/namespaces/{id}"),
            Some(ADMIN_TOKEN),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    token
}

async fn publish_as(app: &TestApp, token: &str, id: &str, version: &str) -> (u16, Value) {
    app.post_json("publications", Some(token), &publish_request(id, version))
        .await
}

/// Every request in `paths` (method, path) answers 401 without a token and with a wrong or a
/// publisher token.
async fn requires_admin(app: &TestApp, publisher_token: &str, paths: &[(&str, &str)]) {
    for (method, path) in paths {
        for token in [None, Some("wrong-admin-token"), Some(publisher_token)] {
            let mut request = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .json(&json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {token:?}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
        }
    }
}

fn field_error(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert!(body["error"].as_str().unwrap().contains(field), "{body}");
}

#[tokio::test]
async fn admin_users_list_searches_filters_and_pages() {
    let (app, db) = spawn_app().await;
    let token = publisher_with_namespace(&app, "acme").await;
    requires_admin(&app, &token, &[("GET", "admin/users")]).await;

    let client = db.pool().get().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO registry_users (github_user_id, github_login, display_name, email, status, last_login_at) VALUES \
             ('1', 'alice', 'Alice A', 'alice@example.com', 'active', now() - interval '1 hour'), \
             ('2', 'bob', 'Bob B', '', 'suspended', now() - interval '2 hours'), \
             ('3', 'carol', 'Carol C', 'carol@example.com', 'active', now())",
        )
        .await
        .unwrap();

    let (status, page) = app.get_json_with("admin/users", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 25);
    assert_eq!(page["offset"], 0);
    let logins: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["github_login"].as_str().unwrap())
        .collect();
    assert_eq!(
        logins,
        ["carol", "alice", "bob"],
        "most recent sign-in first"
    );
    let alice = &page["items"][1];
    assert_eq!(alice["github_user_id"], "1");
    assert_eq!(alice["email"], "alice@example.com");
    assert!(alice["user_id"].as_str().unwrap().len() == 36);
    assert!(alice["last_login_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        page["items"][2].get("email").is_none(),
        "empty fields are omitted"
    );

    let (_, found) = app
        .get_json_with("admin/users?search=ALI", ADMIN_TOKEN)
        .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["github_login"], "alice");
    let (_, found) = app
        .get_json_with("admin/users?search=example.com", ADMIN_TOKEN)
        .await;
    assert_eq!(found["total"], 2);
    let (_, found) = app
        .get_json_with("admin/users?search=%25", ADMIN_TOKEN)
        .await;
    assert_eq!(found["total"], 0, "LIKE wildcards are escaped");
    let (_, suspended) = app
        .get_json_with("admin/users?status=suspended", ADMIN_TOKEN)
        .await;
    assert_eq!(suspended["total"], 1);
    assert_eq!(suspended["items"][0]["status"], "suspended");

    let (_, paged) = app
        .get_json_with("admin/users?limit=2&offset=2", ADMIN_TOKEN)
        .await;
    assert_eq!(paged["total"], 3);
    assert_eq!(paged["limit"], 2);
    assert_eq!(paged["offset"], 2);
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    let (_, capped) = app
        .get_json_with("admin/users?limit=500", ADMIN_TOKEN)
        .await;
    assert_eq!(capped["limit"], 100);

    let (status, body) = app
        .get_json_with("admin/users?status=banned", ADMIN_TOKEN)
        .await;
    field_error(status, &body, "status");
    let (status, body) = app
        .get_json_with("admin/users?limit=abc", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}

#[tokio::test]
async fn abuse_reports_are_filed_reviewed_and_taken_down() {
    let (app, _db) = spawn_app().await;
    let token = publisher_with_namespace(&app, "acme").await;
    requires_admin(
        &app,
        &token,
        &[
            ("GET", "admin/abuse-reports"),
            ("POST", "admin/abuse-reports"),
            (
                "PATCH",
                "admin/abuse-reports/123e4567-e89b-12d3-a456-426614174000/status",
            ),
            (
                "POST",
                "admin/abuse-reports/123e4567-e89b-12d3-a456-426614174000/takedown",
            ),
        ],
    )
    .await;
    for version in ["1.0.0", "1.1.0"] {
        let (status, body) = publish_as(&app, &token, "acme/tool", version).await;
        assert_eq!(status, 201, "{body}");
    }

    // Bad reports: 400 naming the field; nothing is stored.
    let valid = json!({"target_kind": "package", "target_id": "acme/tool", "category": "Malware",
        "reason": "suspicious generated bundle", "reporter_contact": "security@example.com",
        "target_version": "1.0.0"});
    for (field, patch) in [
        ("target_kind", json!({"target_kind": "website"})),
        ("target_id", json!({"target_id": "../etc"})),
        (
            "target_id",
            json!({"target_kind": "namespace", "target_id": "Bad Space"}),
        ),
        ("target_version", json!({"target_version": "one"})),
        (
            "target_version",
            json!({"target_kind": "publisher", "target_id": "acme"}),
        ),
        ("category", json!({"category": ""})),
        ("reason", json!({"reason": "   "})),
        ("reason", json!({"reason": "x".repeat(2001)})),
        ("reporter_contact", json!({"reporter_contact": "a\u{0}b"})),
    ] {
        let mut body = valid.clone();
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, error) = app
            .post_json("admin/abuse-reports", Some(ADMIN_TOKEN), &body)
            .await;
        field_error(status, &error, field);
    }
    let (status, body) = app
        .post_json("admin/abuse-reports", Some(ADMIN_TOKEN), &json!([1]))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, empty) = app.get_json_with("admin/abuse-reports", ADMIN_TOKEN).await;
    assert_eq!(empty["total"], 0);

    // A report on one version: filed open, listed, then taken down alone.
    let (status, filed) = app
        .post_json("admin/abuse-reports", Some(ADMIN_TOKEN), &valid)
        .await;
    assert_eq!(status, 201, "{filed}");
    let report = &filed["report"];
    assert_eq!(report["status"], "open");
    assert_eq!(report["category"], "malware");
    assert_eq!(report["target_version"], "1.0.0");
    assert!(report.get("resolution").is_none());
    let report_id = report["report_id"].as_str().unwrap().to_owned();

    let (_, listed) = app
        .get_json_with(
            "admin/abuse-reports?status=open&search=suspicious",
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["report_id"], report_id.as_str());
    let (status, body) = app
        .get_json_with("admin/abuse-reports?status=closed", ADMIN_TOKEN)
        .await;
    field_error(status, &body, "status");

    let (status, _) = app.get_json("packages/acme%2Ftool/1.0.0/download").await;
    assert_eq!(
        status, 200,
        "downloadable (and now cached) before the takedown"
    );
    let (status, taken) = app
        .post_json(
            &format!("admin/abuse-reports/{report_id}/takedown"),
            Some(ADMIN_TOKEN),
            &json!({"reason": "confirmed policy violation"}),
        )
        .await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["report"]["status"], "reviewing");
    assert_eq!(taken["report"]["resolution"], "confirmed policy violation");
    let (status, gone) = app.get_json("packages/acme%2Ftool/1.0.0").await;
    assert_eq!(status, 410, "{gone}");
    assert_eq!(gone["lifecycle"]["status"], "takedown");
    assert_eq!(gone["lifecycle"]["reason"], "confirmed policy violation");
    assert_eq!(gone["lifecycle"]["updated_by"], "registry-admin");
    let (status, _) = app.get_json("packages/acme%2Ftool/1.0.0/download").await;
    assert_eq!(status, 410, "the cached download is gone at once");
    let (status, _) = app.get_json("packages/acme%2Ftool/1.1.0").await;
    assert_eq!(status, 200, "other versions stay");
    let events = app
        .state()
        .store
        .audit_events("package", "acme/tool@1.0.0")
        .await
        .unwrap();
    assert_eq!(events[0].0, "package.lifecycle_updated");
    let events = app
        .state()
        .store
        .audit_events("package", "acme/tool")
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["abuse.takedown.applied", "abuse.report.created"]);
    assert_eq!(events[0].2["report_id"], report_id.as_str());
    assert_eq!(events[0].2["versions"], json!(["1.0.0"]));

    // Review: status with a resolution; bad status 400; unknown ids 404.
    let (status, resolved) = app
        .patch_json(
            &format!("admin/abuse-reports/{report_id}/status"),
            Some(ADMIN_TOKEN),
            &json!({"status": "Resolved", "resolution": "version removed"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["report"]["status"], "resolved");
    assert_eq!(resolved["report"]["resolution"], "version removed");
    let (status, body) = app
        .patch_json(
            &format!("admin/abuse-reports/{report_id}/status"),
            Some(ADMIN_TOKEN),
            &json!({"status": "done"}),
        )
        .await;
    field_error(status, &body, "status");
    for id in ["123e4567-e89b-12d3-a456-426614174000", "not-a-uuid"] {
        let (status, body) = app
            .patch_json(
                &format!("admin/abuse-reports/{id}/status"),
                Some(ADMIN_TOKEN),
                &json!({"status": "resolved"}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"], "abuse report not found");
        let (status, _) = app
            .post_json(
                &format!("admin/abuse-reports/{id}/takedown"),
                Some(ADMIN_TOKEN),
                &json!({}),
            )
            .await;
        assert_eq!(status, 404);
    }

    // A report on a version that does not exist: the takedown is refused and changes nothing.
    let (_, missing) = app
        .post_json(
            "admin/abuse-reports",
            Some(ADMIN_TOKEN),
            &json!({"target_kind": "package", "target_id": "acme/tool", "target_version": "9.9.9",
                "category": "spam", "reason": "no such version"}),
        )
        .await;
    let missing_id = missing["report"]["report_id"].as_str().unwrap();
    let (status, body) = app
        .post_json(
            &format!("admin/abuse-reports/{missing_id}/takedown"),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    field_error(status, &body, "target_id");
    let (_, still_open) = app
        .get_json_with("admin/abuse-reports?status=open", ADMIN_TOKEN)
        .await;
    assert_eq!(still_open["total"], 1);
    assert_eq!(still_open["items"][0]["report_id"], missing_id);

    // A report on the whole package: ownership suspended and every version taken down, with the
    // report's own reason when the admin gives none.
    let (_, whole) = app
        .post_json(
            "admin/abuse-reports",
            Some(ADMIN_TOKEN),
            &json!({"target_kind": "package", "target_id": "acme/tool", "category": "malware",
                "reason": "all versions"}),
        )
        .await;
    let whole_id = whole["report"]["report_id"].as_str().unwrap();
    let (status, taken) = app
        .post_json(
            &format!("admin/abuse-reports/{whole_id}/takedown"),
            Some(ADMIN_TOKEN),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{taken}");
    let (status, gone) = app.get_json("packages/acme%2Ftool/1.1.0").await;
    assert_eq!(status, 410);
    assert_eq!(
        gone["lifecycle"]["reason"],
        format!("abuse report {whole_id} (malware)")
    );
    let (_, suspended) = app
        .get_json_with("admin/artifacts?status=suspended", ADMIN_TOKEN)
        .await;
    assert_eq!(suspended["items"][0]["artifact_id"], "acme/tool");
    let (status, body) = publish_as(&app, &token, "acme/tool", "2.0.0").await;
    assert_eq!(
        status, 403,
        "a suspended artifact takes no new versions: {body}"
    );

    // A publisher report suspends the publisher: its token stops working.
    let (_, publisher_report) = app
        .post_json(
            "admin/abuse-reports",
            Some(ADMIN_TOKEN),
            &json!({"target_kind": "publisher", "target_id": "acme", "category": "spam",
                "reason": "bulk spam"}),
        )
        .await;
    let publisher_report_id = publisher_report["report"]["report_id"].as_str().unwrap();
    let (status, _) = app
        .post_json(
            &format!("admin/abuse-reports/{publisher_report_id}/takedown"),
            Some(ADMIN_TOKEN),
            &json!({"reason": "spam operation"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json_with("me/publisher", &token).await;
    assert_eq!(status, 403, "{body}");
    let (_, publishers) = app
        .get_json_with("admin/publishers?status=suspended", ADMIN_TOKEN)
        .await;
    assert_eq!(publishers["items"][0]["publisher_id"], "acme");
}

#[tokio::test]
async fn transfers_move_ownership_atomically_with_an_audit_event() {
    let (app, _db) = spawn_app().await;
    let acme = publisher_with_namespace(&app, "acme").await;
    let beta = publisher_with_namespace(&app, "beta").await;
    create_publisher(&app, "idle").await;
    requires_admin(
        &app,
        &acme,
        &[
            ("POST", "admin/namespace-transfer/acme"),
            ("POST", "admin/artifact-transfer/package/acme/tool"),
        ],
    )
    .await;
    for id in ["acme/tool", "acme/other"] {
        let (status, body) = publish_as(&app, &acme, id, "1.0.0").await;
        assert_eq!(status, 201, "{body}");
    }

    // Invalid requests and targets: 400 naming the field, 404 for unknown artifacts.
    let transfer = |id: &str| format!("admin/artifact-transfer/package/{id}");
    for (field, body) in [
        (
            "target_publisher_id",
            json!({"target_publisher_id": "", "target_namespace": "beta"}),
        ),
        (
            "target_publisher_id",
            json!({"target_publisher_id": "nobody", "target_namespace": "beta"}),
        ),
        (
            "target_namespace",
            json!({"target_publisher_id": "beta", "target_namespace": "acme"}),
        ),
        (
            "target_namespace",
            json!({"target_publisher_id": "beta", "target_namespace": "nowhere"}),
        ),
        (
            "target_namespace",
            json!({"target_publisher_id": "beta", "target_namespace": "Not Valid"}),
        ),
    ] {
        let (status, error) = app
            .post_json(&transfer("acme%2Ftool"), Some(ADMIN_TOKEN), &body)
            .await;
        field_error(status, &error, field);
    }
    let (status, body) = app
        .post_json(
            "admin/artifact-transfer/widget/acme/tool",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "beta", "target_namespace": "beta"}),
        )
        .await;
    field_error(status, &body, "artifact_kind");
    let (status, body) = app
        .post_json(
            &transfer("acme/missing"),
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "beta", "target_namespace": "beta"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "artifact ownership not found");
    // A suspended target publisher is refused.
    let (status, _) = app
        .patch_json(
            "admin/publishers/idle/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "test"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post_json(
            "admin/namespace-transfer/acme",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "idle"}),
        )
        .await;
    field_error(status, &body, "target_publisher_id");

    // An artifact moves (the path may carry the id's slash as is or encoded).
    let (status, moved) = app
        .post_json(
            &transfer("acme/tool"),
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "beta", "target_namespace": "beta", "reason": "maintainer handoff"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["artifact"],
        json!({
            "artifact_kind": "package", "artifact_id": "acme/tool", "namespace": "beta",
            "publisher_id": "beta", "status": "active",
            "created_at": moved["artifact"]["created_at"], "updated_at": moved["artifact"]["updated_at"],
        })
    );
    let events = app
        .state()
        .store
        .audit_events("package", "acme/tool")
        .await
        .unwrap();
    assert_eq!(events[0].0, "artifact.ownership.transferred");
    assert_eq!(events[0].1, "registry-admin");
    assert_eq!(events[0].2["previous_publisher_id"], "acme");
    assert_eq!(events[0].2["previous_namespace"], "acme");
    assert_eq!(events[0].2["target_publisher_id"], "beta");
    assert_eq!(events[0].2["reason"], "maintainer handoff");
    // The new owner publishes the next version; the old one no longer can.
    let (status, body) = publish_as(&app, &beta, "acme/tool", "1.1.0").await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = publish_as(&app, &acme, "acme/tool", "1.2.0").await;
    assert_eq!(status, 403);

    // A namespace moves with the artifacts claimed under it.
    let (status, moved) = app
        .post_json(
            "admin/namespace-transfer/acme",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "beta", "reason": "organization migration"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["namespace"]["namespace"], "acme");
    assert_eq!(moved["namespace"]["publisher_id"], "beta");
    let (_, beta_artifacts) = app.get_json_with("me/artifacts", &beta).await;
    let owned: Vec<(&str, &str)> = beta_artifacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["artifact_id"].as_str().unwrap(),
                a["namespace"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(owned, [("acme/other", "acme"), ("acme/tool", "beta")]);
    let events = app
        .state()
        .store
        .audit_events("namespace", "acme")
        .await
        .unwrap();
    assert_eq!(events[0].0, "namespace.ownership.transferred");
    assert_eq!(events[0].2["previous_publisher_id"], "acme");
    assert_eq!(events[0].2["artifacts_moved"], 1);
    let (status, body) = publish_as(&app, &beta, "acme/other", "1.1.0").await;
    assert_eq!(status, 201, "{body}");

    // Unknown, reserved and malformed namespaces.
    let (status, body) = app
        .post_json(
            "admin/namespace-transfer/nowhere",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "beta"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "namespace not found");
    let (status, _) = app
        .patch_json(
            "admin/namespaces/beta",
            Some(ADMIN_TOKEN),
            &json!({"status": "reserved", "reason": "hold"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post_json(
            "admin/namespace-transfer/beta",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "acme"}),
        )
        .await;
    field_error(status, &body, "namespace");
    let (status, body) = app
        .post_json(
            "admin/namespace-transfer/Bad%20Name",
            Some(ADMIN_TOKEN),
            &json!({"target_publisher_id": "acme"}),
        )
        .await;
    field_error(status, &body, "namespace");
    let (status, body) = app
        .post_json(
            "admin/namespace-transfer/acme",
            Some(ADMIN_TOKEN),
            &json!({"reason": "no target"}),
        )
        .await;
    field_error(status, &body, "target_publisher_id");
}

#[tokio::test]
async fn concurrent_transfers_leave_one_consistent_owner() {
    let (app, db) = spawn_app().await;
    let origin = publisher_with_namespace(&app, "race").await;
    for target in ["left", "right"] {
        publisher_with_namespace(&app, target).await;
    }
    for id in ["race/a", "race/b", "race/c"] {
        let (status, body) = publish_as(&app, &origin, id, "1.0.0").await;
        assert_eq!(status, 201, "{body}");
    }
    let client = db.pool().get().await.unwrap();
    for round in 0..5 {
        // Two namespace transfers and two transfers of one of its artifacts, all at once.
        let send = |path: String, body: Value| {
            let request = app
                .client
                .post(app.url(&path))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        let (a, b, c, d) = tokio::join!(
            send(
                "admin/namespace-transfer/race".into(),
                json!({"target_publisher_id": "left", "reason": format!("round {round} left")}),
            ),
            send(
                "admin/namespace-transfer/race".into(),
                json!({"target_publisher_id": "right", "reason": format!("round {round} right")}),
            ),
            send(
                "admin/artifact-transfer/package/race/c".into(),
                json!({"target_publisher_id": "left", "target_namespace": "left"}),
            ),
            send(
                "admin/artifact-transfer/package/race/c".into(),
                json!({"target_publisher_id": "right", "target_namespace": "right"}),
            ),
        );
        assert_eq!([a, b, c, d], [200; 4], "round {round}");

        // One owner for the namespace and everything still claimed under it.
        let owner: String = client
            .query_one(
                "SELECT publisher_id FROM registry_namespaces WHERE namespace = 'race'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(owner == "left" || owner == "right");
        let under: Vec<String> = client
            .query(
                "SELECT DISTINCT publisher_id FROM registry_artifact_ownership WHERE namespace = 'race'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(under, std::slice::from_ref(&owner), "round {round}");
        let events: Vec<_> = app
            .state()
            .store
            .audit_events("namespace", "race")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.0 == "namespace.ownership.transferred")
            .collect();
        // Both transfers committed and were recorded (in full, one after the other).
        assert_eq!(events.len(), 2 * (round + 1));
        let mut targets: Vec<&str> = events[..2]
            .iter()
            .map(|e| e.2["target_publisher_id"].as_str().unwrap())
            .collect();
        targets.sort_unstable();
        assert_eq!(targets, ["left", "right"], "round {round}");
        let c_row = client
            .query_one(
                "SELECT publisher_id, namespace FROM registry_artifact_ownership \
                 WHERE artifact_kind = 'package' AND artifact_id = 'race/c'",
                &[],
            )
            .await
            .unwrap();
        let (c_owner, c_namespace): (String, String) = (c_row.get(0), c_row.get(1));
        assert_eq!(c_owner, c_namespace, "race/c sits in its owner's namespace");
        // Put race/c back under the namespace for the next round.
        let (status, body) = app
            .post_json(
                "admin/artifact-transfer/package/race/c",
                Some(ADMIN_TOKEN),
                &json!({"target_publisher_id": owner, "target_namespace": "race"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn every_admin_list_refuses_bad_filters_alike() {
    let (app, _db) = spawn_app().await;
    create_publisher(&app, "acme").await;
    let long = "a".repeat(5000);
    for list in [
        "admin/publishers",
        "admin/namespaces",
        "admin/artifacts",
        "admin/users",
        "admin/abuse-reports",
    ] {
        // NUL and other control characters never reach Postgres (which rejects a NUL: 503).
        for (query, field) in [
            ("search=%00", "search"),
            ("search=a%00b", "search"),
            ("search=a%07b", "search"),
            ("status=%00", "status"),
            ("status=bogus", "status"),
        ] {
            let (status, body) = app
                .get_json_with(&format!("{list}?{query}"), ADMIN_TOKEN)
                .await;
            assert_eq!(status, 400, "{list}?{query}: {body}");
            assert_eq!(body["field"], field, "{list}?{query}: {body}");
            assert!(
                body["error"].as_str().unwrap().starts_with(field),
                "{list}?{query}: {body}"
            );
        }
        let (status, body) = app
            .get_json_with(&format!("{list}?search={long}"), ADMIN_TOKEN)
            .await;
        field_error(status, &body, "search");
        let (status, body) = app
            .get_json_with(&format!("{list}?search=acme"), ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{list}: {body}");
    }
    // Each list's own statuses still filter (case-insensitively, as before).
    for (list, status_filter, total) in [
        ("admin/publishers", "ACTIVE", 2),
        ("admin/publishers", "suspended", 0),
        ("admin/namespaces", "pending_verification", 0),
        ("admin/artifacts", "transferred", 0),
    ] {
        let (status, body) = app
            .get_json_with(&format!("{list}?status={status_filter}"), ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{list}: {body}");
        assert_eq!(
            body["total"], total,
            "{list}?status={status_filter}: {body}"
        );
    }
}
