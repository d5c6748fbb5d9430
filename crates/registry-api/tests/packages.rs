//! Publish, download, list, lock, receipt, lifecycle, caching: the core contract over real HTTP
//! against a real database.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn publish_then_download_verifies_like_an_upstream_client() {
    let (app, _db) = spawn_app().await;
    let (status, body) = app
        .publish(&publish_request("work-item-fronting", "0.2.0"))
        .await;
    assert_eq!(status, 201, "{body}");
    let package = &body["package"];
    // The token decides the publisher; the body's publisher_id is ignored.
    assert_eq!(package["publisher_id"], PUBLISHER_ID);
    assert_eq!(body["publication"]["publisher_id"], PUBLISHER_ID);
    assert_eq!(body["receipt"]["publisher_id"], PUBLISHER_ID);
    assert_eq!(package["lifecycle"]["status"], "active");
    assert_eq!(package["download_count"], 0);
    assert_eq!(
        package["manifest"]["service_definition_digest"],
        package["definition_digest"]
    );
    assert_eq!(
        package["recommended_lock"]["service_definition_digest"],
        package["definition_digest"]
    );
    assert_eq!(
        package["recommended_lock"]["anip_spec_version"],
        "anip/0.24"
    );
    assert!(package["manifest"]["lineage"].is_object());
    let execution_signature = package["package_execution_signature"].as_str().unwrap();
    assert!(execution_signature.starts_with("sha256:"));
    assert_eq!(
        package["manifest"]["package_execution_signature"],
        execution_signature
    );
    assert_eq!(body["receipt"]["signature_algorithm"], "ed25519");

    let response = app.get("packages/work-item-fronting/0.2.0/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"work-item-fronting-0.2.0.anip-package.json\""
    );
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["x-anip-lifecycle"], "active");
    let downloaded: Value = response.json().await.unwrap();
    for (document, digest) in [
        ("manifest", "manifest_digest"),
        ("service_definition", "definition_digest"),
        ("recommended_lock", "lock_digest"),
    ] {
        assert_eq!(
            signing::digest_value(&downloaded[document]),
            downloaded[digest].as_str().unwrap(),
            "{digest} does not reproduce"
        );
        assert_eq!(downloaded[digest], package[digest]);
    }
    let (status, receipt) = app
        .get_json("packages/work-item-fronting/0.2.0/receipt")
        .await;
    assert_eq!(status, 200);
    assert_eq!(receipt, body["receipt"]);
    let keys = key_set(&app).await;
    assert_eq!(
        verify_receipt(&downloaded, &receipt, &keys),
        signing::PayloadVersion::Current
    );

    // Tampering breaks verification.
    let mut tampered = downloaded.clone();
    tampered["manifest_digest"] =
        json!("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let payload =
        signing::ReceiptPayload::from_package(&tampered, receipt["issued_at"].as_str().unwrap());
    assert!(payload
        .verify(&keys, receipt["registry_signature"].as_str().unwrap())
        .is_err());
}

#[tokio::test]
async fn list_lock_and_keys() {
    let (app, _db) = spawn_app().await;
    for (id, version) in [
        ("alpha-tools", "1.0.0"),
        ("beta-tools", "1.0.0"),
        ("beta-tools", "1.1.0"),
    ] {
        let (status, body) = app.publish(&publish_request(id, version)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, list) = app.get_json("publications").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 3);
    assert_eq!(list["limit"], 50);
    assert_eq!(list["offset"], 0);
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    let item = &list["items"][0];
    assert!(item["lineage"].is_object());
    assert_eq!(item["publisher"]["publisher_id"], PUBLISHER_ID);
    assert_eq!(item["lifecycle"]["status"], "active");

    let (_, page) = app.get_json("publications?limit=1&offset=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 3);
    let (_, searched) = app.get_json("publications?q=BETA").await;
    assert_eq!(searched["total"], 2);
    let (_, short) = app.get_json("publications?q=al").await;
    assert_eq!(short["total"], 1);
    assert_eq!(short["items"][0]["package_id"], "alpha-tools");
    let (_, none) = app.get_json("publications?q=%25").await;
    assert_eq!(none["total"], 0);
    let (status, _) = app.get_json("publications?limit=abc").await;
    assert_eq!(status, 400);
    let (_, capped) = app.get_json("publications?limit=1000").await;
    assert_eq!(capped["limit"], 100);

    let response = app.get("packages/alpha-tools/1.0.0/lock").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"alpha-tools-1.0.0.anip.lock.json\""
    );
    let lock: Value = response.json().await.unwrap();
    let (_, receipt) = app.get_json("packages/alpha-tools/1.0.0/receipt").await;
    assert_eq!(lock["lock_schema_version"], "anip-package-lock/v1");
    assert_eq!(lock["artifact_type"], "anip_package_lock");
    assert_eq!(lock["source_kind"], "registry");
    assert_eq!(lock["receipt_authority"], "remote-registry");
    assert_eq!(lock["receipt_signature"], receipt["registry_signature"]);
    assert_eq!(lock["receipt_key_id"], receipt["key_id"]);
    assert_eq!(lock["receipt_issued_at"], receipt["issued_at"]);
    assert_eq!(lock["registry_signing_mode"], "dev");
    assert_eq!(lock["publisher_id"], PUBLISHER_ID);
    assert!(lock["registry_url"]
        .as_str()
        .unwrap()
        .ends_with("/registry-api/v1"));

    let (_, keys) = app.get_json("keys").await;
    assert_eq!(keys["signing_mode"], "dev");
    let active = keys["active_key_id"].as_str().unwrap();
    assert!(active.starts_with("anip-registry-dev-"), "{active}");
    assert_ne!(active, "anip-registry-dev-ed25519-v1");
    assert_eq!(keys["items"][0]["key_id"], active);
    assert_eq!(keys["items"][0]["algorithm"], "ed25519");

    let (status, health) = app.get_json("healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["service"], "anip-registry");
    assert_eq!(health["signing_mode"], "dev");
    assert_eq!(health["active_key_id"], active);
    let (status, ready) = app.get_json("readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["migration"]["applied"], true);
}

#[tokio::test]
async fn duplicate_and_concurrent_publishes_conflict_exactly_once() {
    let (app, _db) = spawn_app().await;
    let body = publish_request("race-pkg", "1.0.0");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = app.client.clone();
        let url = app.url("publications");
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(PUBLISH_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    // Identical content again: still 409.
    let (status, error) = app.publish(&body).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"], "package version already exists");
    let (_, list) = app.get_json("publications").await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_right_status() {
    let (app, _db) = spawn_app().await;
    let post_raw = |body: Vec<u8>, token: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("publications"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // Malformed JSON and trailing garbage.
    let response = post_raw(b"{\"package_id\":".to_vec(), Some(PUBLISH_TOKEN))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid request body"));
    let mut trailing = serde_json::to_vec(&publish_request("trailing", "1.0.0")).unwrap();
    trailing.extend_from_slice(b" {\"x\":1}");
    let response = post_raw(trailing, Some(PUBLISH_TOKEN)).await.unwrap();
    assert_eq!(response.status(), 400);
    // Oversized: 413, with a JSON body.
    let huge = vec![b' '; 5 * 1024 * 1024 + 10];
    let response = post_raw(huge, Some(PUBLISH_TOKEN)).await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    // A body that is JSON but not an object is named as such, not parsed positionally.
    for body in [
        &b"[\"a\",\"1.0.0\",\"p\"]"[..],
        b"  [1]",
        b"\"text\"",
        b"null",
        b"42",
    ] {
        let response = post_raw(body.to_vec(), Some(PUBLISH_TOKEN)).await.unwrap();
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["error"],
            "request body must be a JSON object",
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for path in ["templates", "admin/imports", "admin/publishers"] {
        let token = if path.starts_with("admin") {
            ADMIN_TOKEN
        } else {
            PUBLISH_TOKEN
        };
        let (status, error) = app.post_json(path, Some(token), &json!(["a", "b"])).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert_eq!(
            error["error"], "request body must be a JSON object",
            "{path}"
        );
    }
    // Missing ids in upstream's order and wording.
    let (status, error) = app.publish(&json!({"package_id": "x"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["error"],
        "package_id, package_version, and project_ref are required"
    );
    // Bad id and version name the field; NUL and very long ids are 400, not 500.
    for (id, version, field) in [
        ("bad id", "1.0.0", "package_id"),
        ("nul\u{0}id", "1.0.0", "package_id"),
        (&"a".repeat(300) as &str, "1.0.0", "package_id"),
        ("fine", "1.0", "package_version"),
        ("fine", "v1.0.0", "package_version"),
    ] {
        let (status, error) = app.publish(&publish_request(id, version)).await;
        assert_eq!(status, 400, "{id:?} {version}: {error}");
        assert_eq!(error["field"], field, "{error}");
        assert!(error["error"].as_str().unwrap().contains(field));
    }
    // Auth comes after the body checks: 401 without or with a wrong token.
    let (status, error) = app
        .post_json("publications", None, &publish_request("auth-pkg", "1.0.0"))
        .await;
    assert_eq!(status, 401, "{error}");
    let (status, _) = app
        .post_json(
            "publications",
            Some("wrong-token"),
            &publish_request("auth-pkg", "1.0.0"),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .post_json(
            "publications",
            Some("anip_pat_123e4567-e89b-12d3-a456-426614174000_nope"),
            &publish_request("auth-pkg", "1.0.0"),
        )
        .await;
    assert_eq!(status, 401);
    // Content validation: 400 naming the field.
    let mut unready = publish_request("unready", "1.0.0");
    unready["manifest"]["agent_consumption_readiness"]["summary"]["blockers"] = json!(2);
    let (status, error) = app.publish(&unready).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["field"],
        "manifest.agent_consumption_readiness.summary.blockers"
    );
    let mut leaky = publish_request("leaky", "1.0.0");
    leaky["manifest"]["source"] =
        json!({"path": "/home/alice/work/leaky", "api_key": "sk-live-123"});
    let (status, error) = app.publish(&leaky).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["field"]
            .as_str()
            .unwrap()
            .starts_with("manifest.source."),
        "{error}"
    );
    // Credentials inside URLs, anywhere in the published metadata, are refused naming the
    // field; a URL with a user but no password, or a placeholder password, is fine.
    for (part, key, value, field) in [
        (
            "manifest",
            "database_url",
            "postgres://anip:hunter2@db.example:5432/x",
            "manifest.database_url",
        ),
        (
            "manifest",
            "endpoint",
            "https://admin:hunter2@api.example.com/",
            "manifest.endpoint",
        ),
        (
            "service_definition",
            "notes",
            "connect with redis://:hunter2@cache.example:6379",
            "service_definition.notes",
        ),
        (
            "recommended_lock",
            "mirror",
            "HTTPS://ci:hunter2@mirror.example/pack",
            "recommended_lock.mirror",
        ),
    ] {
        let mut leaky = publish_request("url-leak", "1.0.0");
        leaky[part][key] = json!(value);
        let (status, error) = app.publish(&leaky).await;
        assert_eq!(status, 400, "{field}: {error}");
        assert_eq!(error["field"], field, "{error}");
        assert!(
            error["error"].as_str().unwrap().contains("password"),
            "{error}"
        );
        assert!(
            !error["error"].as_str().unwrap().contains("hunter2"),
            "{error}"
        );
    }
    let mut leaky = publish_request("url-leak", "1.0.0");
    leaky["readme"] =
        json!("# Setup\n\nSet `DATABASE_URL=postgres://anip:hunter2@db.example/x` first.");
    let (status, error) = app.publish(&leaky).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "readme", "{error}");
    // A home-directory path is found wherever a path starts in the readme, not only at its
    // start; ordinary system paths are fine.
    for readme in [
        "see /root/.anip/secrets.env",
        "Built from /home/alice/projects/secret",
        "C:\\Users\\bob\\x",
    ] {
        let mut leaky = publish_request("url-leak", "1.0.0");
        leaky["readme"] = json!(readme);
        let (status, error) = app.publish(&leaky).await;
        assert_eq!(status, 400, "{readme}: {error}");
        assert_eq!(error["field"], "readme", "{error}");
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("local filesystem path"),
            "{error}"
        );
    }
    let (status, _) = app.get_json("packages/url-leak/1.0.0/download").await;
    assert_eq!(status, 404, "nothing was published");
    let mut fine = publish_request("url-fine", "1.0.0");
    fine["manifest"]["database_url"] = json!("postgres://anip:${DB_PASSWORD}@db.example/x");
    fine["manifest"]["clone"] = json!("ssh://git@github.com/anip-protocol/anip.git");
    fine["manifest"]["docs"] = json!("https://example.com/a:b@c");
    fine["readme"] =
        json!("Point DATABASE_URL at postgres://user@localhost/db. Installs to /usr/local/bin.");
    let (status, body) = app.publish(&fine).await;
    assert_eq!(status, 201, "{body}");
    // Bidi controls in the human-visible name are refused (spoofing on the package page).
    let mut spoof = publish_request("spoof", "1.0.0");
    spoof["manifest"]["name"] = json!("Tools \u{202E}exe.txt");
    let (status, error) = app.publish(&spoof).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "manifest.name", "{error}");
    let mut mismatched = publish_request("mismatched", "1.0.0");
    mismatched["manifest"]["agent_consumability"]["capabilities"] = json!({"other.cap": {}});
    let (status, error) = app.publish(&mismatched).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "manifest.agent_consumability.capabilities");
    let mut old = publish_request("old-spec", "1.0.0");
    old["manifest"]["anip_spec_version"] = json!("anip/0.23");
    let (status, error) = app.publish(&old).await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "manifest.anip_spec_version");

    // Reads: bad ids are 400, unknown versions 404, unknown routes a JSON 404.
    let (status, error) = app.get_json("packages/bad%20id/1.0.0").await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "package_id");
    let (status, error) = app.get_json("packages/fine/not-a-version/download").await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "version");
    let (status, error) = app.get_json("packages/missing/1.0.0/download").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"], "package version not found");
    let response = app.get("no/such/route").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "not found"})
    );
    let response = app
        .client
        .put(app.url("publications"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    // RFC 9110: a 405 names the methods the path has.
    assert_eq!(response.headers()["allow"], "GET, HEAD, POST");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "method not allowed"})
    );
    let response = app
        .client
        .delete(app.url("packages/some/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn a_publication_carrying_its_own_publish_token_is_refused() {
    let (app, _db) = spawn_app().await;
    let refused = |status: u16, error: &Value| {
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["field"], "body", "{error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains("contains this request's publish token"),
            "{error}"
        );
        assert!(!message.contains(PUBLISH_TOKEN), "{error}");
    };
    // The token as Studio would paste it: in the readme, deep in the manifest, in the lock.
    let mut in_readme = publish_request("token-leak", "1.0.0");
    in_readme["readme"] = json!(format!("Publish with `{PUBLISH_TOKEN}`."));
    let mut in_manifest = publish_request("token-leak", "1.0.0");
    in_manifest["manifest"]["notes"] = json!({"ci": [format!("auth {PUBLISH_TOKEN}")]});
    let mut in_lock = publish_request("token-leak", "1.0.0");
    in_lock["recommended_lock"]["x"] = json!(PUBLISH_TOKEN);
    for body in [in_readme, in_manifest, in_lock] {
        let (status, error) = app.publish(&body).await;
        refused(status, &error);
    }
    let (status, _) = app.get_json("packages/token-leak/1.0.0").await;
    assert_eq!(status, 404, "nothing was published");

    // Template publishes take the same path.
    let template = json!({
        "schema": "anip-starter-template/v0",
        "id": "token-starter",
        "kind": "service",
        "projectType": "fronting",
        "anipSpecVersion": "anip/0.24",
        "domain": "devops",
        "documents": [{"filename": "README.md", "content": format!("token: {PUBLISH_TOKEN}")}],
    });
    let template_body = |template: &Value| {
        json!({
            "template_id": "token-starter",
            "template_version": "1.0.0",
            "manifest": {
                "schema": "anip-starter-template-manifest/v0",
                "template_id": "token-starter",
                "anip_spec_version": "anip/0.24",
                "template_digest": signing::digest_value(template),
                "systems": ["gitlab"],
            },
            "template": template,
        })
    };
    let (status, error) = app
        .post_json("templates", Some(PUBLISH_TOKEN), &template_body(&template))
        .await;
    refused(status, &error);
    let mut clean = template.clone();
    clean["documents"][0]["content"] = json!("# Start");
    let (status, body) = app
        .post_json("templates", Some(PUBLISH_TOKEN), &template_body(&clean))
        .await;
    assert_eq!(status, 201, "{body}");

    // The check is about this request's own token: the same text sent with another bearer
    // is not refused for it (it matches no credential format, and it is not that bearer).
    let mut other = publish_request("other-bearer", "1.0.0");
    other["readme"] = json!(format!("Publish with `{PUBLISH_TOKEN}`."));
    let (status, body) = app
        .post_json("publications", Some(ADMIN_TOKEN), &other)
        .await;
    assert_ne!(body["field"], "body", "{status} {body}");
    let mut fine = publish_request("token-leak", "1.0.0");
    fine["readme"] = json!("Publish with the token in $ANIP_PUBLISH_TOKEN.");
    let (status, body) = app.publish(&fine).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn namespaced_ids_travel_as_one_encoded_segment() {
    let (app, _db) = spawn_app().await;
    let (status, body) = app.publish(&publish_request("acme/tools", "1.0.0")).await;
    assert_eq!(status, 201, "{body}");
    let response = app.get("packages/acme%2Ftools/1.0.0/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"acme-tools-1.0.0.anip-package.json\""
    );
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["package_id"], "acme/tools");
}

#[tokio::test]
async fn etags_answer_304_and_records_carry_live_fields() {
    let (app, _db) = spawn_app().await;
    let (status, _) = app.publish(&publish_request("cached", "1.0.0")).await;
    assert_eq!(status, 201);
    let first = app.get("packages/cached/1.0.0/download").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = first.bytes().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", signing::sha256_hex(&bytes)));
    let again = app
        .get("packages/cached/1.0.0/download")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, again, "downloads must be byte-identical");
    let not_modified = app
        .client
        .get(app.url("packages/cached/1.0.0/download"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    assert!(not_modified.bytes().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("packages/cached/1.0.0/download"))
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let record = app.get("packages/cached/1.0.0").await;
    assert_eq!(record.status(), 200);
    assert_eq!(record.headers()["cache-control"], "public, max-age=30");
    let record_etag = record.headers()["etag"].to_str().unwrap().to_owned();
    let record: Value = record.json().await.unwrap();
    assert_eq!(record["lifecycle"]["status"], "active");
    assert!(record["download_count"].is_number());
    let conditional = app
        .client
        .get(app.url("packages/cached/1.0.0"))
        .header("if-none-match", &record_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), 304);
}

#[tokio::test]
async fn lifecycle_yank_allow_and_takedown() {
    let (app, _db) = spawn_app().await;
    for version in ["1.0.0", "1.1.0"] {
        let (status, _) = app.publish(&publish_request("life", version)).await;
        assert_eq!(status, 201);
    }
    let path = "admin/packages/life/1.0.0/lifecycle";
    // Admin auth and validation.
    let (status, _) = app
        .patch_json(path, None, &json!({"status": "yanked", "reason": "x"}))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .patch_json(
            path,
            Some(PUBLISH_TOKEN),
            &json!({"status": "yanked", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, error) = app
        .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": "yanked"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["field"], "reason");
    let (status, _) = app
        .patch_json(
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "gone", "reason": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, error) = app
        .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": "superseded", "reason": "x", "replacement_package_id": "life", "replacement_package_version": "1.0.0"}))
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = app
        .patch_json(
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "superseded", "reason": "x", "replacement_package_id": "life"}),
        )
        .await;
    assert_eq!(status, 400);
    // A replacement must exist and be usable: not missing, taken down or yanked.
    let (status, error) = app
        .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": "superseded", "reason": "x", "replacement_package_id": "life", "replacement_package_version": "9.0.0"}))
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["field"], "replacement_package_id", "{error}");
    let (status, _) = app.publish(&publish_request("life-gone", "1.0.0")).await;
    assert_eq!(status, 201);
    for blocked in ["takedown", "yanked"] {
        let (status, body) = app
            .patch_json(
                "admin/packages/life-gone/1.0.0/lifecycle",
                Some(ADMIN_TOKEN),
                &json!({"status": blocked, "reason": "abuse"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for status_value in ["superseded", "deprecated"] {
            let (status, error) = app
                .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": status_value, "reason": "x", "replacement_package_id": "life-gone", "replacement_package_version": "1.0.0"}))
                .await;
            assert_eq!(status, 400, "{blocked}: {error}");
            assert_eq!(error["field"], "replacement_package_id", "{error}");
            let message = error["error"].as_str().unwrap();
            assert!(message.contains("life-gone@1.0.0"), "{error}");
        }
    }
    let (status, record) = app.get_json("packages/life/1.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(record["lifecycle"]["status"], "active", "nothing changed");
    // An active version carries no reason (registry.md: a reason for every non-active state):
    // one sent with `active` is dropped from the state and kept in the audit event.
    let (status, body) = app
        .patch_json(
            "admin/packages/life-gone/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "active", "reason": "restored after review"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["package"]["lifecycle"]["status"], "active");
    assert!(
        body["package"]["lifecycle"]
            .get("reason")
            .is_none_or(|r| r == ""),
        "{body}"
    );
    let (_, record) = app.get_json("packages/life-gone/1.0.0").await;
    assert!(
        record["lifecycle"].get("reason").is_none_or(|r| r == ""),
        "{record}"
    );
    let events = app
        .state()
        .store
        .audit_events("package", "life-gone@1.0.0")
        .await
        .unwrap();
    assert_eq!(events[0].2["reason"], "restored after review", "{events:?}");
    // Out of the listing again, so the counts below are about `life` alone.
    let (status, _) = app
        .patch_json(
            "admin/packages/life-gone/1.0.0/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "takedown", "reason": "abuse"}),
        )
        .await;
    assert_eq!(status, 200);

    // Deprecated: still downloadable, with its lifecycle and a short cache.
    let (status, body) = app
        .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": "deprecated", "reason": "use 1.1.0", "replacement_package_id": "life", "replacement_package_version": "1.1.0"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["package"]["lifecycle"]["status"], "deprecated");
    assert_eq!(body["package"]["lifecycle"]["updated_by"], "registry-admin");
    let response = app.get("packages/life/1.0.0/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=30");
    assert_eq!(response.headers()["x-anip-lifecycle"], "deprecated");
    let record: Value = response.json().await.unwrap();
    assert_eq!(
        record["lifecycle"]["replacement"]["package_version"],
        "1.1.0"
    );

    // Yanked: 410 unless explicitly allowed.
    let (status, _) = app
        .patch_json(
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "yanked", "reason": "broken"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json("packages/life/1.0.0/download").await;
    assert_eq!(status, 410);
    assert_eq!(body["error"], "package version has been yanked");
    assert_eq!(body["lifecycle"]["status"], "yanked");
    let (status, _) = app.get_json("packages/life/1.0.0/lock").await;
    assert_eq!(status, 410);
    let (status, body) = app
        .get_json("packages/life/1.0.0/download?allow_yanked=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["lifecycle"]["status"], "yanked");
    let response = app
        .client
        .get(app.url("packages/life/1.0.0/download"))
        .header("X-ANIP-Allow-Yanked-Package", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, record) = app.get_json("packages/life/1.0.0").await;
    assert_eq!(status, 200);
    assert_eq!(record["lifecycle"]["status"], "yanked");

    // Takedown: 410 everywhere, and gone from the listing.
    let (status, _) = app
        .patch_json(
            path,
            Some(ADMIN_TOKEN),
            &json!({"status": "takedown", "reason": "abuse"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.get_json("packages/life/1.0.0").await;
    assert_eq!(status, 410);
    assert_eq!(body["lifecycle"]["status"], "takedown");
    assert_eq!(body["package_id"], "life");
    assert!(body.get("manifest").is_none());
    let (status, _) = app
        .get_json("packages/life/1.0.0/download?allow_yanked=true")
        .await;
    assert_eq!(status, 410);
    let (_, list) = app.get_json("publications").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["package_version"], "1.1.0");

    // Back to active: listed and immutable again.
    let (status, _) = app
        .patch_json(path, Some(ADMIN_TOKEN), &json!({"status": "active"}))
        .await;
    assert_eq!(status, 200);
    let (_, list) = app.get_json("publications").await;
    assert_eq!(list["total"], 2);
    let response = app.get("packages/life/1.0.0/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    let (status, _) = app
        .patch_json(
            "admin/packages/life/9.9.9/lifecycle",
            Some(ADMIN_TOKEN),
            &json!({"status": "active"}),
        )
        .await;
    assert_eq!(status, 404);
    let events = app
        .state()
        .store
        .audit_events("package", "life@1.0.0")
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .filter(|(t, _, _)| t == "package.lifecycle_updated")
            .count()
            >= 4
    );
    assert!(events.iter().any(|(t, _, _)| t == "package.published"));
}

#[tokio::test]
async fn download_counts_are_batched_and_flushed_on_shutdown() {
    let (mut app, _db) = spawn_app().await;
    let (status, _) = app.publish(&publish_request("counted", "1.0.0")).await;
    assert_eq!(status, 201);
    for _ in 0..7 {
        assert_eq!(
            app.get("packages/counted/1.0.0/download").await.status(),
            200
        );
    }
    // A conditional download answered 304 transfers nothing: not a download.
    let first = app
        .client
        .head(app.url("packages/counted/1.0.0/download"))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("packages/counted/1.0.0/download"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);
    }
    // The lock and the record are not downloads, nor is a HEAD of the download (which answers
    // like the GET, without a body).
    app.get("packages/counted/1.0.0/lock").await;
    app.get("packages/counted/1.0.0").await;
    let head = app
        .client
        .head(app.url("packages/counted/1.0.0/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("etag"));
    assert_eq!(head.bytes().await.unwrap().len(), 0);
    for path in [
        "publications",
        "keys",
        "packages/counted/1.0.0",
        "packages/counted/1.0.0/lock",
    ] {
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
    }
    let store = app.state().store.clone();
    app.shutdown().await;
    assert_eq!(
        store
            .package_download_count("counted", "1.0.0")
            .await
            .unwrap(),
        Some(7)
    );
}

/// A flush whose write failed is sent again as it was, under its id, before newer counts; if
/// the failed attempt had committed after all (the connection dropped after COMMIT), the
/// retry adds nothing. Each download is counted once either way.
#[tokio::test]
async fn a_flush_retried_after_an_unknown_outcome_counts_each_download_once() {
    use registry_api::downloads::{DownloadCounter, Kind};
    let (app, _db) = spawn_app().await;
    let (status, _) = app.publish(&publish_request("once", "1.0.0")).await;
    assert_eq!(status, 201);
    let store = app.state().store.clone();
    let count = || async {
        store
            .package_download_count("once", "1.0.0")
            .await
            .unwrap()
            .unwrap()
    };
    // A store with no database behind it: every write fails.
    let options = store::PoolOptions {
        connect_timeout: std::time::Duration::from_secs(1),
        wait_timeout: std::time::Duration::from_secs(1),
        ..store::PoolOptions::default()
    };
    let gone = registry_api::store::Store::new(
        store::connect_pool("postgres://postgres@127.0.0.1:1/gone", &options).unwrap(),
    );

    let counter = DownloadCounter::new();
    for _ in 0..5 {
        counter.record(Kind::Package, "once", "1.0.0");
    }
    assert!(counter.flush(&gone).await.is_err());
    let failed = counter.unsettled_batch().expect("the failed batch is kept");
    assert_eq!(counter.pending(), 5);
    for _ in 0..2 {
        counter.record(Kind::Package, "once", "1.0.0");
    }
    assert_eq!(counter.pending(), 7);

    // The failed attempt did commit after all.
    assert!(store
        .add_downloads(failed.id, &failed.counts)
        .await
        .unwrap());
    assert_eq!(count().await, 5);
    // The retry goes first, finds its id taken and adds nothing; then the newer two land.
    assert_eq!(counter.flush(&store).await.unwrap(), 0);
    assert!(counter.unsettled_batch().is_none());
    assert_eq!(counter.pending(), 2);
    assert_eq!(counter.flush(&store).await.unwrap(), 2);
    assert_eq!(counter.pending(), 0);
    assert_eq!(count().await, 7);
    // An id is claimed once, whoever sends it.
    assert!(!store
        .add_downloads(failed.id, &failed.counts)
        .await
        .unwrap());
    assert_eq!(count().await, 7);

    // A failed attempt that did not commit: the retry adds the counts.
    for _ in 0..3 {
        counter.record(Kind::Package, "once", "1.0.0");
    }
    assert!(counter.flush(&gone).await.is_err());
    assert_eq!(counter.flush(&store).await.unwrap(), 3);
    assert_eq!(count().await, 10);

    // The shutdown flush writes both the unsettled batch and the counts made after it.
    counter.record(Kind::Package, "once", "1.0.0");
    assert!(counter.flush(&gone).await.is_err());
    counter.record(Kind::Package, "once", "1.0.0");
    counter.final_flush(&store).await;
    assert_eq!(counter.pending(), 0);
    assert_eq!(count().await, 12);
}

#[tokio::test]
async fn metrics_use_route_patterns_and_publish_statuses() {
    let (app, _db) = spawn_app().await;
    let (status, _) = app.publish(&publish_request("metered", "1.0.0")).await;
    assert_eq!(status, 201);
    app.publish(&publish_request("metered", "1.0.0")).await;
    app.get("packages/metered/1.0.0/download").await;
    app.get("definitely/not/a/route/abc123").await;
    let text = app.get("metrics").await.text().await.unwrap();
    assert!(
        text.contains("anip_registry_publish_total{kind=\"package\",status=\"success\"}"),
        "{text}"
    );
    assert!(text.contains("anip_registry_publish_total{kind=\"package\",status=\"conflict\"}"));
    assert!(text.contains("anip_registry_download_total{kind=\"package\"}"));
    assert!(
        text.contains("route=\"/registry-api/v1/packages/{package_id}/{version}/download\""),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\""));
    assert!(!text.contains("abc123"), "raw paths must not become labels");
    assert!(!text.contains("metered"), "ids must not become labels");
    assert!(text.contains("anip_registry_migrations_applied 1"));
}
