//! `DbReadiness` through `store::readiness`, against a loopback port nothing listens on.

#![allow(clippy::unwrap_used)]

use actix_web::{test, App};
use observability::health::{self, DbReadiness, Health, HealthPaths};
use serde_json::Value;

fn no_migrations() -> refinery::Runner {
    refinery::Runner::new(&[])
}

static SET: store::MigrationSet = store::MigrationSet {
    service: "obs-test",
    lock_id: 0x0b5_7e57,
    history_table: "obs_test_schema_history",
    runner: no_migrations,
};

#[actix_web::test]
async fn unreachable_database_is_not_ready_and_the_password_stays_out() {
    let pool = store::connect_pool(
        "postgres://anip:s3cret-pw@127.0.0.1:1/anip",
        &store::PoolOptions::default(),
    )
    .unwrap();
    let health = Health::new("obs-test", "t_db", DbReadiness::new(pool, &SET));
    let app = test::init_service(
        App::new().configure(|cfg| health::mount(cfg, health, HealthPaths::RUNTIME)),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), 503);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["status"], "error");
    assert_eq!(body["service"], "obs-test");
    assert_eq!(body["migration"]["applied"], false);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("unreachable"), "{error}");
    assert!(!body.to_string().contains("s3cret-pw"), "{body}");

    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(text.lines().any(|l| l == "t_db_ready 0"), "{text}");
    assert!(
        text.lines().any(|l| l == "t_db_migrations_applied 0"),
        "{text}"
    );
}
