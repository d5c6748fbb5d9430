//! TLS to PostgreSQL, configured the way libpq users already know.
//!
//! `DATABASE_URL` carries `sslmode` and `sslrootcert` exactly as libpq reads them, so an
//! operator can paste the connection string a managed database hands out:
//!
//! | `sslmode` | encryption | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | no (as libpq, unless `sslrootcert` is set) |
//! | `require` | always | no (as libpq, unless `sslrootcert` is set: then as `verify-ca`) |
//! | `verify-ca` | always | chain against `sslrootcert` |
//! | `verify-full` | always | chain against `sslrootcert` and the host name |
//!
//! `sslrootcert` is a PEM file of trusted roots, or `system` for the Mozilla root set built into
//! the binary (the images are `FROM scratch` and have no system store). `verify-ca` and
//! `verify-full` without `sslrootcert` are refused with a message saying so, rather than
//! silently trusting nothing or everything.
//!
//! tokio-postgres itself understands only `disable`, `prefer` and `require`, and rejects unknown
//! options; [`split_tls_options`] takes our two options out of the string before it is parsed.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// What the connection string asks for, once tokio-postgres's own parser has been spared the
/// options it does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
}

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RootCert {
    File(PathBuf),
    System,
}

/// Removes `sslmode` and `sslrootcert` from a `postgres://` URL or a key/value string, returning
/// the string tokio-postgres should parse (with `sslmode` mapped to what it knows) and our
/// reading of the two options.
pub(crate) fn split_tls_options(url: &str) -> Result<(String, TlsOptions), StoreError> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, StoreError> {
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => SslMode::Disable,
                    // libpq's `allow` means "plaintext first, TLS if refused"; TLS whenever the
                    // server offers it is the safer reading of the same intent.
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    _ => {
                        return Err(StoreError::InvalidUrl(
                            "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"
                                .to_owned(),
                        ))
                    }
                });
                Ok(true)
            }
            "sslrootcert" => {
                root_cert = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(PathBuf::from(value))
                });
                Ok(true)
            }
            _ => Ok(false),
        }
    };

    let rest = if let Some((base, query)) = url
        .split_once('?')
        .filter(|_| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, &percent_decode(value))? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.to_owned()
    } else {
        // key=value form. Values with spaces are quoted; our two options never need quotes, so
        // only unquoted tokens are taken and everything else is passed through untouched.
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            match token.split_once('=') {
                Some((key, value)) if !value.starts_with('\'') && take(key, value)? => {}
                _ => kept.push(token),
            }
        }
        kept.join(" ")
    };

    let mode = mode.unwrap_or(SslMode::Prefer);
    let tokio_mode = match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
    };
    let rest = if rest.starts_with("postgres://") || rest.starts_with("postgresql://") {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!("{rest}{sep}sslmode={tokio_mode}")
    } else {
        format!("{rest} sslmode={tokio_mode}")
    };
    Ok((rest, TlsOptions { mode, root_cert }))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The TLS connector for these options. It is also used with `sslmode=disable`, where
/// tokio-postgres never calls it, so every connection path has one connector type.
pub(crate) fn connector(options: &TlsOptions) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &options.root_cert {
        None => None,
        Some(root) => Some(Arc::new(load_roots(root)?)),
    };
    let verify = match (options.mode, roots) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(StoreError::InvalidUrl(
                "sslmode=verify-ca and verify-full need sslrootcert=PATH (a PEM file) or sslrootcert=system"
                    .to_owned(),
            ))
        }
        (SslMode::VerifyFull, Some(roots)) => Verify::Full(roots),
        // As libpq: a root certificate turns `require` (and `prefer`) into chain verification.
        (_, Some(roots)) => Verify::Chain(roots),
        (_, None) => Verify::EncryptOnly,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Full(roots) => WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| StoreError::InvalidUrl(format!("sslrootcert: {e}")))?,
        Verify::Chain(roots) => Arc::new(ChainOnly {
            inner: WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| StoreError::InvalidUrl(format!("sslrootcert: {e}")))?,
        }),
        Verify::EncryptOnly => Arc::new(EncryptOnly {
            provider: provider.clone(),
        }),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::InvalidUrl(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

enum Verify {
    Full(Arc<RootCertStore>),
    Chain(Arc<RootCertStore>),
    EncryptOnly,
}

fn load_roots(root: &RootCert) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        RootCert::File(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| StoreError::InvalidUrl(format!("sslrootcert {shown}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| StoreError::InvalidUrl(format!("sslrootcert {shown}: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| StoreError::InvalidUrl(format!("sslrootcert {shown}: {e}")))?;
            }
            if store.is_empty() {
                return Err(StoreError::InvalidUrl(format!(
                    "sslrootcert {shown}: no certificate in the file"
                )));
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain must lead to a trusted root; the name in the certificate may differ
/// from the host connected to (libpq's meaning).
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `prefer`/`require` without a root certificate: encrypted, not authenticated (libpq's
/// meaning). The handshake signatures are still checked, so the session is bound to whichever
/// key the server presented.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, TlsOptions) {
        split_tls_options(url).expect("valid")
    }

    #[test]
    fn url_options_are_taken_out_and_mapped() {
        let (rest, opts) = split(
            "postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        );
        assert_eq!(
            rest,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        assert_eq!(opts.mode, SslMode::VerifyFull);
        assert_eq!(opts.root_cert, Some(RootCert::File("/etc/ca.pem".into())));
    }

    #[test]
    fn default_is_prefer_without_roots() {
        let (rest, opts) = split("postgres://u@h/db");
        assert_eq!(rest, "postgres://u@h/db?sslmode=prefer");
        assert_eq!(
            opts,
            TlsOptions {
                mode: SslMode::Prefer,
                root_cert: None
            }
        );
    }

    #[test]
    fn key_value_form() {
        let (rest, opts) = split("host=h dbname=db sslmode=verify-ca sslrootcert=system");
        assert_eq!(rest, "host=h dbname=db sslmode=require");
        assert_eq!(opts.mode, SslMode::VerifyCa);
        assert_eq!(opts.root_cert, Some(RootCert::System));
    }

    #[test]
    fn unknown_mode_is_refused() {
        let err = split_tls_options("postgres://h/db?sslmode=sometimes").unwrap_err();
        assert!(err.to_string().contains("sslmode must be one of"), "{err}");
    }

    #[test]
    fn verification_without_roots_is_refused() {
        let (_, opts) = split("postgres://h/db?sslmode=verify-full");
        let err = connector(&opts).err().expect("refused").to_string();
        assert!(err.contains("need sslrootcert"), "{err}");
    }

    #[test]
    fn system_roots_load() {
        let (_, opts) = split("postgres://h/db?sslmode=verify-full&sslrootcert=system");
        assert!(connector(&opts).is_ok());
    }
}
