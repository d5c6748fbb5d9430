//! Key rotation, database outages and dev-key persistence.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn receipts_signed_before_a_rotation_verify_after_it() {
    let db = database().await;
    let old_seed = [1u8; 32];
    let new_seed = [2u8; 32];
    let old_public = signing::SigningKey::from_seed(&old_seed)
        .verifying_key()
        .to_base64();
    let mut before = spawn_on(
        &db.url,
        &[
            "--key-id",
            "key-2026-q1",
            "--ed25519-private-key",
            &b64(&old_seed),
        ],
    )
    .await;
    let (status, _) = before.publish(&publish_request("rotated", "1.0.0")).await;
    assert_eq!(status, 201);
    before.shutdown().await;

    // Restart with a new active key and the old public key kept for verification.
    let extra = format!("key-2026-q1={old_public}");
    let after = spawn_on(
        &db.url,
        &[
            "--key-id",
            "key-2026-q2",
            "--ed25519-private-key",
            &b64(&new_seed),
            "--extra-public-keys",
            &extra,
        ],
    )
    .await;
    let (_, keys) = after.get_json("keys").await;
    assert_eq!(keys["active_key_id"], "key-2026-q2");
    let ids: Vec<&str> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["key-2026-q2", "key-2026-q1"]);
    let (_, record) = after.get_json("packages/rotated/1.0.0/download").await;
    let (_, receipt) = after.get_json("packages/rotated/1.0.0/receipt").await;
    assert_eq!(receipt["key_id"], "key-2026-q1");
    verify_receipt(&record, &receipt, &key_set(&after).await);
    // New publications use the new key.
    let (status, body) = after.publish(&publish_request("rotated", "1.1.0")).await;
    assert_eq!(status, 201);
    assert_eq!(body["receipt"]["key_id"], "key-2026-q2");
    let (_, lock) = after.get_json("packages/rotated/1.0.0/lock").await;
    assert_eq!(lock["registry_active_key_id"], "key-2026-q2");
    assert_eq!(lock["receipt_key_id"], "key-2026-q1");

    // Without the old key the receipt can no longer be verified: the key is not advertised.
    let forgetful = spawn_on(
        &db.url,
        &[
            "--key-id",
            "key-2026-q2",
            "--ed25519-private-key",
            &b64(&new_seed),
        ],
    )
    .await;
    let keys = key_set(&forgetful).await;
    let payload =
        signing::ReceiptPayload::from_package(&record, receipt["issued_at"].as_str().unwrap());
    assert!(payload
        .verify(&keys, receipt["registry_signature"].as_str().unwrap())
        .is_err());
}

#[tokio::test]
async fn replicas_share_the_generated_dev_key_through_the_database() {
    let db = database().await;
    let one = spawn_on(&db.url, &[]).await;
    let two = spawn_on(&db.url, &[]).await;
    let (_, keys_one) = one.get_json("keys").await;
    let (_, keys_two) = two.get_json("keys").await;
    assert_eq!(keys_one["items"], keys_two["items"]);
    let dev = signing::SigningKey::dev().verifying_key().to_base64();
    assert_ne!(
        keys_one["items"][0]["public_key"],
        dev.as_str(),
        "never the upstream dev key"
    );
}

/// A TCP proxy in front of Postgres that can be cut and restored.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String, port: u16) -> Proxy {
        let proxy = Proxy {
            port,
            target,
            tasks: Arc::default(),
        };
        proxy.listen().await;
        proxy
    }

    async fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops the listener and every proxied connection.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn wait_for(app: &TestApp, path: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (got, body) = app.get_json(path).await;
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_database_outage_is_503_never_404_and_recovers() {
    let db = database().await;
    // postgres://user@127.0.0.1:PORT/name
    let (before, after) = db.url.split_once("@127.0.0.1:").unwrap();
    let (target_port, rest) = after.split_once('/').unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    drop(listener);
    let proxy = Proxy::start(format!("127.0.0.1:{target_port}"), proxy_port).await;
    let pool_url = format!("{before}@127.0.0.1:{proxy_port}/{rest}");
    let app = spawn_with_pool_url(&db.url, &pool_url, &[]).await;
    let (status, _) = app.publish(&publish_request("outage", "1.0.0")).await;
    assert_eq!(status, 201);
    wait_for(&app, "readyz", 200).await;

    proxy.cut();
    let ready = wait_for(&app, "readyz", 503).await;
    assert_eq!(ready["status"], "error");
    // Lists may come from the in-memory catalogue for up to catalogue::CONFIRM_WINDOW after
    // the database's last answer: the whole list, never an empty one, then 503.
    let deadline = Instant::now() + registry_api::catalogue::CONFIRM_WINDOW * 5;
    loop {
        let (status, body) = app.get_json("publications").await;
        if status == 503 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 1, "{body}");
        assert!(
            Instant::now() < deadline,
            "lists still answered during the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for path in [
        "publications",
        "packages/outage/1.0.0/download",
        "packages/outage/1.0.0",
        "packages/outage/1.0.0/receipt",
        "packages/missing/1.0.0/download",
        "keys",
        "templates",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"], "registry storage unavailable", "{path}");
    }
    let (status, body) = app.publish(&publish_request("outage", "2.0.0")).await;
    assert_eq!(status, 503, "{body}");
    // Liveness does not depend on the database.
    let (status, _) = app.get_json("healthz").await;
    assert_eq!(status, 200);
    let text = app.get("metrics").await.text().await.unwrap();
    assert!(text.contains("anip_registry_publish_total{kind=\"package\",status=\"error\"}"));

    proxy.listen().await;
    wait_for(&app, "readyz", 200).await;
    let (status, list) = app.get_json("publications").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    let (status, _) = app.get_json("packages/outage/1.0.0/download").await;
    assert_eq!(status, 200);
}
