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
