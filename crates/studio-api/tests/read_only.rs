//! Read-only mode: every path and every mutating method of the generated OpenAPI document is
//! refused with 403 `{"detail": reason}` (except the pure validation POSTs), reads and
//! downloads still work, and the database is byte-for-byte unchanged afterwards.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::json;
use studio_api::config::Settings;
use studio_api::read_only;

const REASON: &str = "This is the public showcase; it is read-only.";

/// `(row count, md5 of every row's text)` of every table in the public schema.
async fn fingerprint(pool: &store::Pool) -> BTreeMap<String, (i64, String)> {
    let client = pool.get().await.unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for table in tables {
        let row = client
            .query_one(
                &format!("SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"),
                &[],
            )
            .await
            .unwrap();
        out.insert(table, (row.get(0), row.get(1)));
    }
    out
}

#[actix_web::test]
async fn every_mutating_route_is_refused_and_nothing_changes() {
    let app = spawn_default().await;
    for name in SNAPSHOTS {
        assert_eq!(
            app.post("/api/project-snapshots/import", &fixture(name))
                .await
                .0,
            200
        );
    }
    let pid = authored_project(&app, "Read Only").await;
    let (status, publication) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 201, "{publication}");
    let publication_id = publication["id"].as_str().unwrap().to_owned();
    let response = app
        .http
        .post(app.url(&format!("/api/projects/{pid}/documents?filename=spec.md")))
        .header("content-type", "text/markdown")
        .body(SPEC)
        .send()
        .await
        .unwrap();
    let (_, document) = status_json(response).await;
    let document_id = document["id"].as_str().unwrap().to_owned();
    let (_, requirements) = app.get(&format!("/api/projects/{pid}/requirements")).await;
    let record_id = requirements[0]["id"].as_str().unwrap().to_owned();

    let before = fingerprint(&app.pool).await;
    let (base, handle) = app.serve_again(Settings {
        read_only: true,
        read_only_reason: REASON.into(),
        ..Settings::for_tests()
    });
    let http = reqwest::Client::new();

    let (status, document_json) = status_json(
        http.get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let paths = document_json["paths"].as_object().unwrap();
    assert!(
        paths.len() > 40,
        "the document lists every route ({})",
        paths.len()
    );

    let fill = |path: &str| {
        path.replace("{project_id}", &pid)
            .replace("{workspace_id}", "default")
            .replace("{record_id}", &record_id)
            .replace("{document_id}", &document_id)
            .replace("{publication_id}", &publication_id)
            .replace("{connection_id}", "no-such-connection")
            .replace("{section}", "product_summary")
            .replace("{number}", "1")
    };
    let mut refused = 0;
    let mut validated = 0;
    for (template, operations) in paths {
        let path = fill(template);
        assert!(!path.contains('{'), "unfilled parameter in {template}");
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = http
                .request(method.clone(), format!("{base}{path}"))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let (status, body) = status_json(response).await;
            let documented = operations.get(method.as_str().to_lowercase()).is_some();
            if method == reqwest::Method::POST
                && read_only::allowed(&actix_web::http::Method::POST, &path)
            {
                assert!(
                    documented,
                    "allow-listed {template} must be a documented POST"
                );
                assert_ne!(
                    status, 403,
                    "validation POST {template} must pass in read-only mode"
                );
                validated += 1;
            } else {
                assert_eq!(status, 403, "{method} {template}: {body}");
                assert_eq!(body, json!({"detail": REASON}), "{method} {template}");
                refused += 1;
            }
        }
        if operations.get("get").is_some() {
            let (status, body) =
                status_json(http.get(format!("{base}{path}")).send().await.unwrap()).await;
            assert!(
                status < 500 && status != 403,
                "GET {template} → {status} {body}"
            );
        }
    }
    assert_eq!(validated, read_only::VALIDATION_POSTS.len());
    assert!(refused > 150, "{refused}");

    // Unknown paths, other methods and the HTML forms are refused too, before routing.
    for (method, path) in [
        ("POST", "/api/no/such/route"),
        ("PATCH", "/api/projects"),
        ("PURGE", "/"),
        ("POST", "/studio/projects"),
    ] {
        let response = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
    }

    // Reads and downloads still work.
    let (status, runtime) = status_json(
        http.get(format!("{base}/api/runtime-status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(runtime["read_only_mode"], true);
    assert_eq!(runtime["read_only_reason"], REASON);
    let bundle = http
        .get(format!(
            "{base}/api/projects/{pid}/local-publications/{publication_id}/bundle"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let download = http
        .get(format!(
            "{base}/api/projects/{pid}/documents/{document_id}/download"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap(), SPEC.as_bytes());
    let (status, verification) = status_json(
        http.post(format!(
            "{base}/api/projects/{pid}/local-publications/{publication_id}/verify"
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, verification["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        http.get(format!("{base}/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/api/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    handle.stop(false).await;
    let after = fingerprint(&app.pool).await;
    assert_eq!(before, after, "read-only mode changed the database");
}

/// A connection URL for `user` on the test database.
fn url_as(db_url: &str, user: &str, password: &str) -> String {
    let config: tokio_postgres::Config = db_url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap();
    format!("postgres://{user}:{password}@{host}:{port}/{db}")
}

#[actix_web::test]
async fn a_select_only_role_serves_every_read() {
    let app = spawn_default().await;
    for name in SNAPSHOTS {
        assert_eq!(
            app.post("/api/project-snapshots/import", &fixture(name))
                .await
                .0,
            200
        );
    }
    let pid = authored_project(&app, "Reader").await;
    assert_eq!(
        app.post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({})
        )
        .await
        .0,
        201
    );

    // A role that may only read, as STUDIO_READ_ONLY_DATABASE_URL would name.
    let role = format!("reader_{}", app.db.name);
    let client = app.pool.get().await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'; \
             GRANT CONNECT ON DATABASE {db} TO {role}; GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};",
            db = app.db.name
        ))
        .await
        .unwrap();
    let reader = store::connect_pool(
        &url_as(&app.db.url, &role, "reader-pw"),
        &store::PoolOptions::default(),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings {
        read_only: true,
        read_only_reason: REASON.into(),
        ..Settings::for_tests()
    };
    let server = studio_api::app::server(
        studio_api::app::AppState::new(reader, settings),
        listener,
        &observability::ServerLimits::default(),
    )
    .unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let http = reqwest::Client::new();
    let (_, document) = status_json(
        http.get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut projects: Vec<String> = SNAPSHOTS
        .iter()
        .map(|n| fixture(n)["project"]["id"].as_str().unwrap().to_owned())
        .collect();
    projects.push(pid);
    let mut reads = 0;
    for project in &projects {
        for (template, operations) in document["paths"].as_object().unwrap() {
            if operations.get("get").is_none()
                || template.contains("{record_id}")
                || template.contains("{document_id}")
                || template.contains("{publication_id}")
                || template.contains("{number}")
            {
                continue;
            }
            let path = template
                .replace("{project_id}", project)
                .replace("{workspace_id}", "default");
            let (status, body) =
                status_json(http.get(format!("{base}{path}")).send().await.unwrap()).await;
            assert!(
                status < 500,
                "GET {path} through a SELECT-only role → {status} {body}"
            );
            reads += 1;
        }
        for suffix in [
            "",
            "/documents",
            "/product",
            "/design",
            "/developer",
            "/publish",
            "/history",
        ] {
            let response = http
                .get(format!("{base}/studio/projects/{project}{suffix}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "page {suffix} of {project}");
        }
    }
    assert!(reads > 60, "{reads}");
    handle.stop(false).await;
    // Roles are cluster-wide: leave none behind on a shared test server.
    let _ = client
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
}
