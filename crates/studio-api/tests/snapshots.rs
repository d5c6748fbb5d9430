//! `anip-studio-project-snapshot/v1`: both upstream fixtures import and export again without
//! loss; bad snapshots are refused whole; showcase seeding is idempotent.

// Integration tests: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use studio_api::service::snapshots;
use studio_api::store::Db;

fn by_id(rows: &Value) -> Vec<Value> {
    let mut rows = rows.as_array().cloned().unwrap_or_default();
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    rows
}

/// Every record of `expected` is in `actual`, identical, and nothing else is.
fn assert_same_snapshot(expected: &Value, actual: &Value) {
    assert_eq!(
        actual["snapshot_schema_version"],
        "anip-studio-project-snapshot/v1"
    );
    assert_eq!(actual["project"], expected["project"], "project");
    assert_eq!(actual["workspace"], expected["workspace"], "workspace");
    assert_eq!(
        by_id(&actual["workspace_connections"]),
        by_id(&expected["workspace_connections"]),
        "connections"
    );
    let tables: Vec<&String> = expected["records"].as_object().unwrap().keys().collect();
    assert_eq!(
        actual["records"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        tables,
        "record tables"
    );
    for table in tables {
        let want = by_id(&expected["records"][table]);
        let got = by_id(&actual["records"][table]);
        assert_eq!(got.len(), want.len(), "{table}: row count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{table} {}", w["id"]);
        }
    }
    assert_eq!(
        actual["published_packages"], expected["published_packages"],
        "published_packages"
    );
}

#[actix_web::test]
async fn upstream_snapshots_round_trip_without_loss() {
    let app = spawn_default().await;
    for name in SNAPSHOTS {
        let snapshot = fixture(name);
        let pid = snapshot["project"]["id"].as_str().unwrap().to_owned();
        let (status, result) = app
            .post(
                "/api/project-snapshots/import",
                &json!({"snapshot": snapshot}),
            )
            .await;
        assert_eq!(status, 200, "{name}: {result}");
        assert_eq!(result["status"], "imported");
        assert_eq!(
            result["warnings"],
            json!([]),
            "{name}: every upstream content hash reproduces"
        );

        let (status, exported) = app.get(&format!("/api/projects/{pid}/export")).await;
        assert_eq!(status, 200);
        assert_same_snapshot(&snapshot, &exported);

        // Exported snapshots import again (replacing) and still export the same.
        let (status, result) = app.post("/api/project-snapshots/import", &exported).await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["status"], "replaced");
        let (_, again) = app.get(&format!("/api/projects/{pid}/export")).await;
        assert_same_snapshot(&snapshot, &again);

        let (status, result) = app
            .post(
                "/api/project-snapshots/import",
                &json!({"snapshot": snapshot, "replace_existing": false}),
            )
            .await;
        assert_eq!(
            (status, result["status"].as_str()),
            (200, Some("skipped_existing"))
        );
    }
}

#[actix_web::test]
async fn imported_projects_are_browsable_through_the_api() {
    let app = spawn_default().await;
    let snapshot = fixture(SNAPSHOTS[1]);
    let pid = snapshot["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post("/api/project-snapshots/import", &snapshot).await.0,
        200
    );
    let (_, product) = app.get(&format!("/api/projects/{pid}/product")).await;
    assert_eq!(product["latest_revision"]["data"]["revision_number"], 1);
    assert_eq!(
        product["unsaved_changes"], false,
        "sections match the frozen revision"
    );
    let (_, baseline) = app
        .get(&format!("/api/projects/{pid}/developer/baseline"))
        .await;
    assert_eq!(baseline["drift"], json!([]), "{}", baseline["drift"]);
    let (_, definition) = app
        .get(&format!("/api/projects/{pid}/developer/definition"))
        .await;
    assert_eq!(
        definition["latest_revision"]["data"]["saved_revision"]["revision_number"],
        1
    );
    let (status, docs) = app.get(&format!("/api/projects/{pid}/documents")).await;
    assert_eq!(status, 200);
    let id = docs[0]["id"].as_str().unwrap();
    let (status, preview) = app
        .get(&format!("/api/projects/{pid}/documents/{id}/preview"))
        .await;
    assert_eq!(status, 200);
    assert!(preview["content"].as_str().unwrap().contains("Linear"));
    // Packages default to the id the snapshot was published under. The revision was compiled
    // by upstream's browser code, whose signature Studio's compiler does not reproduce: that
    // is reported as a blocker rather than papered over.
    let (status, package) = app.get(&format!("/api/projects/{pid}/package")).await;
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["request"]["package_id"], "linear-fronting-showcase");
    assert_eq!(package["findings"][0]["code"], "contract_signature_drift");
    assert_eq!(package["publishable"], false);
    let (status, history) = app.get(&format!("/api/projects/{pid}/history")).await;
    assert_eq!(status, 200);
    assert_eq!(history["developer_revisions"].as_array().unwrap().len(), 1);
}

async fn row_count(app: &TestApp, table: &str) -> i64 {
    let client = app.pool.get().await.unwrap();
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[actix_web::test]
async fn bad_snapshots_are_refused_whole() {
    let app = spawn_default().await;
    let snapshot = fixture(SNAPSHOTS[0]);
    let before = row_count(&app, "projects").await;

    let mut wrong_version = snapshot.clone();
    wrong_version["snapshot_schema_version"] = json!("anip-studio-project-snapshot/v0");
    let (status, body) = app
        .post("/api/project-snapshots/import", &wrong_version)
        .await;
    assert_eq!(status, 422, "{body}");

    let mut unknown = snapshot.clone();
    unknown["records"]["pm_artifacts"][0]["surprise"] = json!(1);
    let (status, body) = app.post("/api/project-snapshots/import", &unknown).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("surprise"),
        "{body}"
    );

    let mut foreign = snapshot.clone();
    foreign["records"]["scenarios"][0]["project_id"] = json!("someone-else");
    let (status, body) = app.post("/api/project-snapshots/import", &foreign).await;
    assert_eq!(status, 422, "{body}");

    // A record id owned by another project: the database refuses it late, after the
    // workspace, project and earlier records were written; the transaction rolls all back.
    assert_eq!(
        app.post("/api/project-snapshots/import", &snapshot).await.0,
        200
    );
    let projects = row_count(&app, "projects").await;
    let artifacts = row_count(&app, "pm_artifacts").await;
    let mut clash = snapshot.clone();
    clash["project"]["id"] = json!("clash-project");
    let swap = |v: &mut Value| {
        for table in v["records"].as_object_mut().unwrap().values_mut() {
            for row in table.as_array_mut().unwrap() {
                for key in ["project_id", "studio_project_id"] {
                    if row.get(key).is_some() {
                        row[key] = json!("clash-project");
                    }
                }
            }
        }
    };
    swap(&mut clash);
    clash["records"]["project_documents"] = json!([]);
    let (status, body) = app.post("/api/project-snapshots/import", &clash).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        row_count(&app, "projects").await,
        projects,
        "nothing half-written"
    );
    assert_eq!(row_count(&app, "pm_artifacts").await, artifacts);
    assert_eq!(app.get("/api/projects/clash-project").await.0, 404);
    assert!(before < projects);
}

#[actix_web::test]
async fn showcases_seed_idempotently_latest_version_per_package() {
    let app = spawn_default().await;
    let db = Db::new(app.pool.clone());
    let dir = shared_dir().join("fixtures/upstream/studio-snapshots");
    let first = snapshots::seed_showcases(&db, Some(&dir)).await.unwrap();
    let statuses: Vec<&str> = first.snapshots.iter().map(|(_, _, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["imported", "imported", "imported"],
        "{:?}",
        first.snapshots
    );
    let (_, projects) = app.get("/api/projects?workspace_id=showcase").await;
    assert_eq!(projects.as_array().unwrap().len(), 3);
    let (_, workspace) = app.get("/api/workspaces/showcase").await;
    assert_eq!(workspace["projects_count"], 3);

    let second = snapshots::seed_showcases(&db, Some(&dir)).await.unwrap();
    let statuses: Vec<&str> = second
        .snapshots
        .iter()
        .map(|(_, _, s)| s.as_str())
        .collect();
    assert_eq!(statuses, ["unchanged", "unchanged", "unchanged"]);
    assert_eq!(row_count(&app, "projects").await, 3);

    // The built-in showcase alone seeds a fresh database too (no shared directory at run time).
    let fresh = spawn_default().await;
    let report = snapshots::seed_showcases(&Db::new(fresh.pool.clone()), None)
        .await
        .unwrap();
    assert_eq!(report.snapshots.len(), 1);
    assert_eq!(report.snapshots[0].2, "imported", "{:?}", report.snapshots);
}

/// A Registry publication record as Studio stores it (a `pm_artifacts` row).
fn registry_publication_row(pid: &str) -> Value {
    json!({
        "id": format!("{pid}-registry-publication-1"),
        "project_id": pid,
        "title": "Registry Publication gitlab-fronting@1.0.0",
        "status": "frozen",
        "data": {
            "artifact_type": "developer_registry_publication",
            "authority": "remote-registry",
            "registry_url": "http://registry.example",
            "publication": {"package_id": "gitlab-fronting", "package_version": "1.0.0"},
            "trust": {"verdict": "trusted"},
        },
    })
}

async fn local_publications(app: &TestApp, pid: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/projects/{pid}/local-publications"))
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// Regression: replacing a project by import deleted its local and Registry publication
/// records (immutable history), after which a local version could be reused with other
/// content. A published project is now never replaced: 409, and the records stay.
#[actix_web::test]
async fn importing_never_replaces_a_published_project() {
    let app = spawn_default().await;

    // Local publication made in Studio.
    let pid = authored_project(&app, "Published").await;
    let (status, publication) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({"package_version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, 201, "{publication}");
    let (_, exported) = app.get(&format!("/api/projects/{pid}/export")).await;
    let mut changed = exported.clone();
    changed["records"]["local_publications"] = json!([]);
    for snapshot in [&exported, &changed] {
        let (status, body) = app
            .post(
                "/api/project-snapshots/import",
                &json!({"snapshot": snapshot, "replace_existing": true}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("publication"),
            "{body}"
        );
    }
    let kept = local_publications(&app, &pid).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["id"], publication["id"]);
    // The version stays taken.
    let (status, body) = app
        .post(
            &format!("/api/projects/{pid}/local-publications"),
            &json!({"package_version": "1.0.0"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // A Registry publication record (restored from a snapshot here).
    let mut snapshot = fixture(SNAPSHOTS[0]);
    let gid = snapshot["project"]["id"].as_str().unwrap().to_owned();
    snapshot["records"]["pm_artifacts"]
        .as_array_mut()
        .unwrap()
        .push(registry_publication_row(&gid));
    let (status, body) = app.post("/api/project-snapshots/import", &snapshot).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("imported")),
        "{body}"
    );
    let (status, body) = app.post("/api/project-snapshots/import", &snapshot).await;
    assert_eq!(status, 409, "{body}");
    let (_, remote) = app
        .get(&format!("/api/projects/{gid}/registry-publications"))
        .await;
    assert_eq!(remote.as_array().unwrap().len(), 1, "{remote}");
}

/// Regression: seeding a newer showcase snapshot replaced the seeded project, deleting its
/// publication records. Seeding keeps a published project as it is.
#[actix_web::test]
async fn seeding_never_deletes_publication_records() {
    let app = spawn_default().await;
    let db = Db::new(app.pool.clone());
    let first = snapshots::seed_showcases(&db, None).await.unwrap();
    assert_eq!(first.snapshots[0].2, "imported", "{:?}", first.snapshots);
    let pid = first.snapshots[0].1.clone();
    let before = local_publications(&app, &pid).await;
    assert_eq!(before.len(), 1);

    let builtin = snapshots::embedded_showcases();
    let mut newer: Value = serde_json::from_str(&builtin[0].text).unwrap();
    newer["published_packages"][0]["package_version"] = json!("0.2.0");
    newer["project"]["summary"] = json!("A newer showcase.");
    newer["records"]["local_publications"] = json!([]);
    let dir = std::env::temp_dir().join(format!("studio-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("newer-0.2.0.studio-project-snapshot.json"),
        serde_json::to_string(&newer).unwrap(),
    )
    .unwrap();
    let second = snapshots::seed_showcases(&db, Some(&dir)).await;
    std::fs::remove_dir_all(&dir).unwrap();
    let second = second.unwrap();
    assert_eq!(second.snapshots.len(), 1, "{:?}", second.snapshots);
    assert!(
        second.snapshots[0].2.starts_with("kept_existing"),
        "{:?}",
        second.snapshots
    );
    assert_eq!(local_publications(&app, &pid).await, before);
}

/// Regression: a snapshot whose document bytes no longer matched its recorded hash imported
/// with a warning, and downloads then promised the old hash.
#[actix_web::test]
async fn tampered_document_hashes_are_recomputed() {
    let app = spawn_default().await;
    let mut snapshot = fixture(SNAPSHOTS[1]);
    let pid = snapshot["project"]["id"].as_str().unwrap().to_owned();
    let tampered = b"# Tampered\n\nNot what was exported.\n".to_vec();
    let doc = &mut snapshot["records"]["project_documents"][0];
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let old_hash = doc["content_hash"].as_str().unwrap().to_owned();
    doc["content"]["data"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &tampered
    ));
    let (status, result) = app.post("/api/project-snapshots/import", &snapshot).await;
    assert_eq!(status, 200, "{result}");
    assert!(result["warnings"].to_string().contains(&doc_id), "{result}");
    let response = app
        .http
        .get(app.url(&format!("/api/projects/{pid}/documents/{doc_id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["x-content-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), tampered.as_slice());
    assert_eq!(header, signing::sha256_hex(&bytes));
    assert_ne!(header, old_hash);
    let (_, doc) = app
        .get(&format!("/api/projects/{pid}/documents/{doc_id}"))
        .await;
    assert_eq!(doc["content_hash"], header, "{doc}");
}

/// Regression: importing a new project into an existing workspace id rewrote that workspace's
/// name and summary for every project in it. The existing workspace is used as it is.
#[actix_web::test]
async fn importing_never_edits_an_existing_workspace() {
    let app = spawn_default().await;
    let (status, body) = app
        .post(
            "/api/workspaces",
            &json!({"id": "team-keep", "name": "Keep", "summary": "Ours."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut snapshot = fixture(SNAPSHOTS[0]);
    snapshot["workspace"]["id"] = json!("team-keep");
    snapshot["workspace"]["name"] = json!("Overwritten");
    snapshot["workspace"]["summary"] = json!("Overwritten.");
    snapshot["project"]["workspace_id"] = json!("team-keep");
    for c in snapshot["workspace_connections"].as_array_mut().unwrap() {
        c["workspace_id"] = json!("team-keep");
    }
    let (status, body) = app.post("/api/project-snapshots/import", &snapshot).await;
    assert_eq!(status, 200, "{body}");
    let (_, workspace) = app.get("/api/workspaces/team-keep").await;
    assert_eq!(workspace["name"], "Keep", "{workspace}");
    assert_eq!(workspace["summary"], "Ours.", "{workspace}");
    let pid = snapshot["project"]["id"].as_str().unwrap();
    let (_, project) = app.get(&format!("/api/projects/{pid}")).await;
    assert_eq!(project["workspace_id"], "team-keep");
}

/// Regression: collisions answered "A record with this id already exists." without naming it.
#[actix_web::test]
async fn collisions_name_the_record() {
    let app = spawn_default().await;
    let snapshot = fixture(SNAPSHOTS[0]);
    let pid = snapshot["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post("/api/project-snapshots/import", &snapshot).await.0,
        200
    );
    let other = project(&app, "Other").await;
    let (status, body) = app
        .post(&format!("/api/projects/{other}/clone"), &json!({"id": pid}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["detail"],
        format!("A project with id {pid:?} already exists."),
    );

    // Another project reusing a document id of the first.
    let mut clash = snapshot.clone();
    clash["project"]["id"] = json!("clash-project");
    for table in clash["records"].as_object_mut().unwrap().values_mut() {
        for row in table.as_array_mut().unwrap() {
            for key in ["project_id", "studio_project_id"] {
                if row.get(key).is_some() {
                    row[key] = json!("clash-project");
                }
            }
            // Only the documents keep their ids.
            if row.get("content").is_none() {
                let id = row["id"].as_str().unwrap().to_owned();
                row["id"] = json!(format!("clash-{id}"));
            }
        }
    }
    clash["records"]["proposals"] = json!([]);
    clash["records"]["shapes"] = json!([]);
    clash["records"]["evaluations"] = json!([]);
    let doc_id = clash["records"]["project_documents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app.post("/api/project-snapshots/import", &clash).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["detail"],
        format!("A document with id {doc_id:?} already exists."),
    );
}
