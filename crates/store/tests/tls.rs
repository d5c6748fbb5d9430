//! TLS to a real PostgreSQL server: a private cluster with `ssl = on` and a certificate from a
//! throwaway CA made in process (rcgen), connected to through the pool, a dedicated
//! session (migrations) and a `LISTEN` session, with each libpq `sslmode`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{connect_pool, LocalPostgres, MigrationSet, PoolOptions};

mod embedded {
    refinery::embed_migrations!("tests/migrations");
}

static SET: MigrationSet = MigrationSet {
    service: "tlstest",
    lock_id: 0x414e_4950_ff02,
    history_table: "tlstest_schema_history",
    runner: embedded::migrations::runner,
};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA certificate (`{name}.pem`) and the issuer that signs with its key.
fn make_ca(dir: &Path, name: &str) -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("anip {name}"));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), certificate.pem()).unwrap();
    rcgen::Issuer::new(params, key)
}

/// A CA and a server certificate for `localhost` only (no IP address), so that connecting to
/// 127.0.0.1 passes `verify-ca` but not `verify-full`; and another CA that signed nothing.
/// P-256 keys, made in process with rcgen.
fn make_certificates(dir: &Path) {
    let ca = make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("server.crt"), certificate.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// Starts a cluster, then restarts it with TLS on, the key owned by the server's user.
fn start_tls_cluster(dir: &Path) -> LocalPostgres {
    let pg = LocalPostgres::start(&dir.join("pg"), None).unwrap();
    let data = pg.data_dir().to_path_buf();
    let port = pg.port();
    pg.stop().unwrap();
    let owner = std::fs::metadata(&data).unwrap();
    for file in ["server.crt", "server.key"] {
        let to = data.join(file);
        std::fs::copy(dir.join(file), &to).unwrap();
        std::os::unix::fs::chown(&to, Some(owner.uid()), Some(owner.gid())).unwrap();
        let mode = if file.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    std::fs::write(data.join("postgresql.conf"), conf).unwrap();
    LocalPostgres::start(&dir.join("pg"), Some(port)).unwrap()
}

/// The error and all its sources: the TLS reason sits a few levels down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

async fn session_uses_tls(url: &str) -> Result<bool, String> {
    let pool = connect_pool(url, &PoolOptions::default()).map_err(|e| e.to_string())?;
    let client = pool.get().await.map_err(|e| error_chain(&e))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_behaves_as_libpq_documents() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        TempDir(std::env::temp_dir().join(format!("anip-tls-{}-{nanos}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    make_certificates(&dir.0);
    let pg = tokio::task::block_in_place(|| start_tls_cluster(&dir.0));
    let port = pg.port();
    let ca = dir.0.join("ca.pem");
    let other_ca = dir.0.join("other-ca.pem");
    let at =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");

    // Encryption without authentication, as libpq: prefer (the default) and require.
    assert_eq!(session_uses_tls(&at("127.0.0.1", "")).await, Ok(true));
    assert_eq!(
        session_uses_tls(&at("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(
        session_uses_tls(&at("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );

    // verify-full checks the chain and the name.
    let full = |host: &str, root: &Path| {
        at(
            host,
            &format!("sslmode=verify-full&sslrootcert={}", root.display()),
        )
    };
    assert_eq!(session_uses_tls(&full("localhost", &ca)).await, Ok(true));
    let wrong_name = session_uses_tls(&full("127.0.0.1", &ca)).await.unwrap_err();
    assert!(
        wrong_name.contains("NotValidForName") || wrong_name.contains("not valid for name"),
        "{wrong_name}"
    );
    let wrong_ca = session_uses_tls(&full("localhost", &other_ca))
        .await
        .unwrap_err();
    assert!(
        wrong_ca.contains("UnknownIssuer") || wrong_ca.contains("unknown issuer"),
        "{wrong_ca}"
    );

    // verify-ca checks the chain only; require with a root certificate behaves like verify-ca.
    let ca_only = |root: &Path, mode: &str| {
        at(
            "127.0.0.1",
            &format!("sslmode={mode}&sslrootcert={}", root.display()),
        )
    };
    assert_eq!(session_uses_tls(&ca_only(&ca, "verify-ca")).await, Ok(true));
    assert!(session_uses_tls(&ca_only(&other_ca, "verify-ca"))
        .await
        .is_err());
    assert!(session_uses_tls(&ca_only(&other_ca, "require"))
        .await
        .is_err());

    // Dedicated sessions (migrations) and LISTEN sessions take the same road.
    let url = full("localhost", &ca);
    let report = store::migrate(&url, &SET).await;
    assert!(report.is_ok(), "{report:?}");
    let mut notifications = store::listen(&url, "tls_test").await.unwrap();
    let pool = connect_pool(&url, &PoolOptions::default()).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("NOTIFY tls_test, 'hello'")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), notifications.recv())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("hello"));

    drop(notifications);
    drop(pool);
    tokio::task::block_in_place(|| pg.stop()).unwrap();
}
