//! The HTTP client backends are called with: hyper's pooled HTTP/1.1 client over TCP or rustls,
//! one whole-call timeout (connect, request and the whole answer), a limit on the answer's size,
//! and no redirects. A redirect would resend the connection's credential to wherever the
//! backend points (another origin, a metadata address), so a 3xx is a backend failure
//! (`super::http` maps it).
//!
//! Backend certificates must chain to the webpki roots or to the operator's own CAs
//! (`ANIP_RUNTIME_BACKEND_CA_FILE`, a PEM bundle). Calls go straight to the backend: the
//! `HTTP_PROXY` family of variables is not read.
//!
//! hyper directly rather than through reqwest: reqwest's redirect and response layers parse
//! every request's URL again, and with the layers around them they cost about a tenth of the
//! runtime's CPU per invocation (`cargo xtask bench runtime`), for features this client refuses.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A request body: the whole JSON text, or nothing.
pub type Body = Full<Bytes>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// A pooled client for calling backends; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct BackendClient {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    tls: Arc<rustls::ClientConfig>,
}

/// Why the backend trust roots could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("the CA file {path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
}

/// The CAs backend certificates may chain to: the webpki roots, and the certificates of the
/// PEM bundle `ca_file` when one is given (each must be usable as a trust anchor).
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, TrustError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let failed = |reason: String| TrustError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TrustError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| failed(format!("a certificate is not a usable CA: {e}")))?;
    }
    Ok(roots)
}

/// Why a call got no complete answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No complete answer within the timeout.
    Timeout,
    /// No connection was made, so nothing was sent.
    Connect,
    /// The backend's TLS certificate does not chain to a trusted CA (or does not name it), so
    /// nothing was sent.
    Untrusted,
    /// Connected, then the connection ended without a complete answer.
    Incomplete,
    /// The answer is larger than the limit.
    TooLarge,
}

impl TransportError {
    /// The `reason` label of `anip_runtime_backend_failures_total`.
    pub fn label(self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Connect => "connect",
            TransportError::Untrusted => "untrusted_certificate",
            TransportError::Incomplete => "incomplete",
            TransportError::TooLarge => "too_large",
        }
    }
}

/// An answer: its status and whole body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl BackendClient {
    /// A client that speaks `http` and `https` (rustls with ring), trusting `roots` (see
    /// [`trusted_roots`]).
    pub fn new(roots: rustls::RootCertStore) -> Result<BackendClient, TrustError> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(BackendClient::with_tls(Arc::new(tls)))
    }

    fn with_tls(tls: Arc<rustls::ClientConfig>) -> BackendClient {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        BackendClient { client, tls }
    }

    /// A client like `shared` (the same trust) for calls made on this thread. actix runs a
    /// single-threaded runtime per worker; a pooled connection's I/O task runs on the thread
    /// that opened it, so a client shared by the workers would wake another thread twice per
    /// call. One client per thread keeps each call on the thread that handles the request.
    pub fn for_this_thread(shared: &BackendClient) -> BackendClient {
        thread_local! {
            static CLIENT: std::cell::RefCell<Option<BackendClient>> =
                const { std::cell::RefCell::new(None) };
        }
        CLIENT.with(|client| {
            let mut client = client.borrow_mut();
            match &*client {
                Some(mine) if Arc::ptr_eq(&mine.tls, &shared.tls) => mine.clone(),
                _ => client
                    .insert(BackendClient::with_tls(shared.tls.clone()))
                    .clone(),
            }
        })
    }

    /// Sends `request` and reads the whole answer, at most `max_body` bytes of it, within
    /// `timeout`.
    pub async fn send(
        &self,
        request: Request<Body>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, TransportError> {
        let call = async {
            let response = self.client.request(request).await.map_err(|error| {
                if !error.is_connect() {
                    TransportError::Incomplete
                } else if refused_certificate(&error) {
                    TransportError::Untrusted
                } else {
                    TransportError::Connect
                }
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), max_body)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        TransportError::TooLarge
                    } else {
                        TransportError::Incomplete
                    }
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

/// Whether `error` comes from rustls refusing the server's certificate. rustls reaches hyper
/// wrapped in `io::Error`s, whose `source()` skips the error they wrap, so an `io::Error` on
/// the chain is opened with `get_ref` instead.
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if matches!(
            error.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("anip-runtime-ca-{}.pem", crate::ids::random_hex(6)));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_ca_file_without_a_usable_certificate_is_refused_by_name() {
        let empty = file_with("# no certificates here\n");
        let error = trusted_roots(Some(&empty)).unwrap_err();
        assert!(matches!(error, TrustError::NoCertificate { .. }), "{error}");
        assert!(error.to_string().contains(&empty.display().to_string()));
        std::fs::remove_file(&empty).unwrap();

        let broken =
            file_with("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
        let error = trusted_roots(Some(&broken)).unwrap_err();
        assert!(matches!(error, TrustError::CaFile { .. }), "{error}");
        std::fs::remove_file(&broken).unwrap();

        let missing = std::env::temp_dir().join("anip-runtime-ca-that-does-not-exist.pem");
        assert!(matches!(
            trusted_roots(Some(&missing)),
            Err(TrustError::CaFile { .. })
        ));
    }
}
