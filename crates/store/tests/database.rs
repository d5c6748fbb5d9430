//! Pool, migrations, readiness and test databases against a real PostgreSQL
//! (`ANIP_TEST_DATABASE_URL` or a private per-process cluster).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use store::testing::{empty_database, test_database};
use store::{connect_pool, migrate, readiness, MigrationSet, PoolOptions, StoreError};
use tokio::task::JoinSet;

mod embedded {
    refinery::embed_migrations!("tests/migrations");
}

static SET: MigrationSet = MigrationSet {
    service: "storetest",
    lock_id: 0x414e_4950_ff01,
    history_table: "storetest_schema_history",
    runner: embedded::migrations::runner,
};

const NAMES: [&str; 3] = ["V1__counter", "V2__slow", "V3__widget_index"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_each_migration_exactly_once() {
    let db = empty_database().await;
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let url = db.url.clone();
        tasks.spawn(async move { migrate(&url, &SET).await });
    }
    let mut applied_now = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let report = joined.unwrap().expect("every concurrent migrate succeeds");
        assert_eq!(report.applied, NAMES);
        assert!(report.pending.is_empty());
        applied_now.extend(report.applied_now);
    }
    applied_now.sort();
    assert_eq!(
        applied_now, NAMES,
        "each migration applied by exactly one caller"
    );

    let pool = db.pool();
    let client = pool.get().await.unwrap();
    let history: i64 = client
        .query_one("SELECT count(*) FROM storetest_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 3);
    let runs = client
        .query(
            "SELECT migration, count(*) FROM migration_runs GROUP BY migration ORDER BY migration",
            &[],
        )
        .await
        .unwrap();
    let runs: Vec<(String, i64)> = runs.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        runs,
        [("V1".into(), 1), ("V2".into(), 1), ("V3".into(), 1)],
        "every migration's SQL ran once"
    );

    // Running again is a no-op.
    let again = migrate(&db.url, &SET).await.unwrap();
    assert!(again.applied_now.is_empty());
    assert_eq!(again.applied, NAMES);
}

#[tokio::test]
async fn readiness_reports_pending_then_ready() {
    let db = empty_database().await;
    let pool = db.pool();

    let before = readiness(&pool, &SET).await;
    assert!(before.database_reachable, "{before:?}");
    assert!(!before.ready);
    assert_eq!(before.applied_count, 0);
    assert_eq!(before.expected_count, 3);
    assert_eq!(before.pending, NAMES);
    assert!(before.error.as_deref().unwrap().contains("pending"));

    migrate(&db.url, &SET).await.unwrap();

    let after = readiness(&pool, &SET).await;
    assert!(after.ready, "{after:?}");
    assert!(after.database_reachable);
    assert_eq!(after.applied, NAMES);
    assert_eq!(after.applied_count, 3);
    assert_eq!(after.expected_count, 3);
    assert!(after.pending.is_empty());
    assert!(after.error.is_none());

    let json = serde_json::to_value(&after).unwrap();
    assert_eq!(json["ready"], true);
    assert_eq!(json["applied_count"], 3);
    assert_eq!(json["error"], serde_json::Value::Null);
}

#[tokio::test]
async fn divergent_migration_is_reported_and_refused() {
    let db = test_database(&SET).await;
    let pool = db.pool();
    assert!(readiness(&pool, &SET).await.ready);

    let client = pool.get().await.unwrap();
    client
        .execute(
            "UPDATE storetest_schema_history SET checksum = '1' WHERE version = 2",
            &[],
        )
        .await
        .unwrap();
    let report = readiness(&pool, &SET).await;
    assert!(!report.ready);
    assert!(report.database_reachable);
    assert!(
        report.error.as_deref().unwrap().contains("V2__slow"),
        "{report:?}"
    );

    let err = migrate(&db.url, &SET).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Migration {
                service: "storetest",
                ..
            }
        ),
        "{err}"
    );
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_database_fails_fast_without_leaking_the_password() {
    let port = closed_port();
    let url = format!("postgres://alice:hunter2secret@127.0.0.1:{port}/registry");
    let started = Instant::now();
    let err = migrate(&url, &SET).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}/registry")),
        "{text}"
    );
    assert!(!text.contains("hunter2secret"), "{text}");
    assert!(!format!("{err:?}").contains("hunter2secret"));

    // A server that accepts TCP but never answers: the connect timeout fires.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://alice:hunter2secret@127.0.0.1:{port}/registry?connect_timeout=1");
    let started = Instant::now();
    let err = migrate(&url, &SET).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2secret"));

    // Readiness on an unreachable pool: not reachable, error without password.
    let opts = PoolOptions {
        connect_timeout: Duration::from_secs(1),
        wait_timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    };
    let pool = connect_pool(
        &format!(
            "postgres://alice:hunter2secret@127.0.0.1:{}/registry",
            closed_port()
        ),
        &opts,
    )
    .unwrap();
    let started = Instant::now();
    let report = readiness(&pool, &SET).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!report.ready && !report.database_reachable);
    assert_eq!(report.pending, NAMES);
    let error = report.error.unwrap();
    assert!(!error.contains("hunter2secret"), "{error}");
    drop(silent);
}

#[tokio::test]
async fn invalid_url_is_rejected_without_echoing_it() {
    let err = migrate("postgres://alice:hunter2secret@host:port/db", &SET)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2secret"));
}

#[tokio::test]
async fn statement_timeout_and_application_name_apply() {
    let db = empty_database().await;
    let opts = PoolOptions {
        statement_timeout: Duration::from_millis(300),
        application_name: "store-test".to_owned(),
        ..PoolOptions::default()
    };
    let pool = connect_pool(&db.url, &opts).unwrap();
    let client = pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT current_setting('statement_timeout'), current_setting('application_name')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "300ms");
    assert_eq!(row.get::<_, String>(1), "store-test");

    let started = Instant::now();
    let err = client.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_databases_are_migrated_and_isolated() {
    let mut tasks = JoinSet::new();
    for _ in 0..6 {
        tasks.spawn(test_database(&SET));
    }
    let mut dbs = Vec::new();
    while let Some(db) = tasks.join_next().await {
        dbs.push(db.unwrap());
    }
    let mut names: Vec<&str> = dbs.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), dbs.len(), "names are unique");

    for (i, db) in dbs.iter().enumerate() {
        let pool = db.pool();
        let ready = readiness(&pool, &SET).await;
        assert!(ready.ready, "{ready:?}");
        let client = pool.get().await.unwrap();
        let id = i64::try_from(i).unwrap();
        client
            .execute("INSERT INTO widgets (id, name) VALUES ($1, 'w')", &[&id])
            .await
            .unwrap();
        let count: i64 = client
            .query_one("SELECT count(*) FROM widgets", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 1, "databases do not share rows");
    }
}

/// A pooled connection outlives the runtime that first asked for it. Under actix-web every
/// request worker is a runtime of its own; one stopping (as idle workers do first on SIGTERM)
/// must not close connections the rest of the process still uses.
#[tokio::test]
async fn a_connection_opened_for_a_worker_runtime_outlives_that_runtime() {
    let db = empty_database().await;
    let pool = db.pool();
    let worker_pool = pool.clone();
    // A worker runtime takes the pool's first connection, uses it, returns it and stops. It
    // runs on a blocking thread so this runtime, the pool's home, stays free to run.
    let pid: i32 = tokio::task::spawn_blocking(move || {
        let worker = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pid = worker.block_on(async {
            let client = worker_pool.get().await.unwrap();
            client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0)
        });
        drop(worker);
        pid
    })
    .await
    .unwrap();
    let client = pool.get().await.unwrap();
    assert!(
        !client.is_closed(),
        "the worker's stop closed the connection"
    );
    let again: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        again, pid,
        "the same session serves after the worker stopped"
    );
}
