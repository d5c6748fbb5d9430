//! The HTTP client backends are called with: hyper's pooled HTTP/1.1 client over TCP or rustls,
//! one whole-call timeout (connect, request and the whole answer), a limit on the answer's size,
//! and no redirects. A redirect would resend the connection's credential to wherever the
//! backend points (another origin, a metadata address), so a 3xx is a backend failure
//! (`super::http` maps it).
//!
//! hyper directly rather than through reqwest: reqwest's redirect and response layers parse
//! every request's URL again, and with the layers around them they cost about a tenth of the
//! runtime's CPU per invocation (`cargo xtask bench runtime`), for features this client refuses.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A request body: the whole JSON text, or nothing.
pub type Body = Full<Bytes>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// A pooled client for calling backends; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct BackendClient(Client<HttpsConnector<HttpConnector>, Body>);

/// Why a call got no complete answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No complete answer within the timeout.
    Timeout,
    /// No connection was made, so nothing was sent.
    Connect,
    /// Connected, then the connection ended without a complete answer.
    Incomplete,
    /// The answer is larger than the limit.
    TooLarge,
}

/// An answer: its status and whole body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl BackendClient {
    /// A client that speaks `http` and `https` (the webpki roots, rustls with ring).
    pub fn new() -> Result<BackendClient, rustls::Error> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(BackendClient(client))
    }

    /// The client for calls made on this thread (`shared` if one cannot be built). actix runs a
    /// single-threaded runtime per worker; a pooled connection's I/O task runs on the thread
    /// that opened it, so a client shared by the workers would wake another thread twice per
    /// call. One client per thread keeps each call on the thread that handles the request.
    pub fn for_this_thread(shared: &BackendClient) -> BackendClient {
        thread_local! {
            static CLIENT: std::cell::RefCell<Option<BackendClient>> =
                const { std::cell::RefCell::new(None) };
        }
        CLIENT.with(|client| {
            client
                .borrow_mut()
                .get_or_insert_with(|| BackendClient::new().unwrap_or_else(|_| shared.clone()))
                .clone()
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
            let response = self.0.request(request).await.map_err(|error| {
                if error.is_connect() {
                    TransportError::Connect
                } else {
                    TransportError::Incomplete
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
