//! Parsing database URLs, describing them without secrets, and opening
//! dedicated (non-pooled) sessions.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// Connect timeout used when neither the URL nor the caller sets one.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses a `postgres://` URL (or key/value connection string) and checks
/// that it names a host. The error never echoes the input.
pub(crate) fn parse_config(url: &str) -> Result<Config, StoreError> {
    Ok(parse_target(url)?.config)
}

/// A parsed connection string with the TLS connector its `sslmode`/`sslrootcert` ask for.
pub(crate) struct Target {
    pub config: Config,
    pub tls: MakeRustlsConnect,
}

/// Parses a connection string, TLS options included (see [`crate::tls`]). The error never
/// echoes the input.
pub(crate) fn parse_target(url: &str) -> Result<Target, StoreError> {
    let (rest, tls_options) = crate::tls::split_tls_options(url)?;
    let config = Config::from_str(&rest).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(StoreError::InvalidUrl("no host given".to_owned()));
    }
    let tls = crate::tls::connector(&tls_options)?;
    Ok(Target { config, tls })
}

/// `host:port/database` for messages; never includes user or password.
pub(crate) fn describe_target(config: &Config) -> String {
    let ports = config.get_ports();
    let port_at = |i: usize| -> u16 {
        match ports.len() {
            0 => 5432,
            1 => ports[0],
            _ => ports.get(i).copied().unwrap_or(5432),
        }
    };
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port_at(i)),
            #[cfg(unix)]
            Host::Unix(path) => format!("{}:{}", path.display(), port_at(i)),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("{addr}:{}", port_at(i)))
            .collect();
    }
    let database = config
        .get_dbname()
        .or_else(|| config.get_user())
        .unwrap_or("?");
    format!("{}/{database}", hosts.join(","))
}

/// Opens a dedicated session (not from a pool). The connection task is
/// spawned on the current Tokio runtime. Every failure to establish the
/// session is [`StoreError::Unreachable`]; the whole attempt is bounded by the
/// URL's `connect_timeout` (or `default_timeout`) per host.
pub(crate) async fn connect_dedicated(
    target: &Target,
    default_timeout: Duration,
) -> Result<Client, StoreError> {
    let mut config = target.config.clone();
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(default_timeout);
    config.connect_timeout(timeout);
    let hosts = config.get_hosts().len().max(config.get_hostaddrs().len());
    let overall = timeout * u32::try_from(hosts.max(1)).unwrap_or(1);
    let tls = target.tls.clone();
    let target = describe_target(&config);
    match tokio::time::timeout(overall, config.connect(tls)).await {
        Err(_) => Err(StoreError::Unreachable {
            target,
            reason: format!("no answer within {}", human(overall)),
        }),
        Ok(Err(e)) => Err(StoreError::Unreachable {
            target,
            reason: e.to_string(),
        }),
        Ok(Ok((client, connection))) => {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "dedicated database session ended with an error");
                }
            });
            Ok(client)
        }
    }
}

/// Formats a duration for humans (`5s`, `300ms`).
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Returns `url` with its database (the path) replaced by `database`.
/// Only `postgres://` / `postgresql://` URLs are supported.
pub(crate) fn url_with_database(url: &str, database: &str) -> Result<String, StoreError> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| StoreError::InvalidUrl("expected a postgres:// URL".to_owned()))?;
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let query_at = rest.find('?').unwrap_or(rest.len());
    // The host part starts after the last '@' (user info) before the query.
    let host_start = rest[..query_at].rfind('@').map_or(0, |at| at + 1);
    let authority_end = rest[host_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| host_start + i);
    let query = &rest[query_at.max(authority_end)..];
    Ok(format!(
        "{}{}/{}{}",
        &url[..rest_start],
        &rest[..authority_end],
        database,
        query
    ))
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_has_no_password() {
        let config = parse_config("postgres://alice:s3cret@db.example:6543/registry").unwrap();
        let target = describe_target(&config);
        assert_eq!(target, "db.example:6543/registry");
        assert!(!target.contains("s3cret"));
    }

    #[test]
    fn invalid_url_does_not_echo_password() {
        let err = parse_config("postgres://alice:s3cret@db.example:notaport/registry")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        let err = parse_config("postgres://alice:s3cret@/registry")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn replaces_database() {
        assert_eq!(
            url_with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://u:p/w@h:1", "x").unwrap(),
            "postgres://u:p/w@h:1/x"
        );
        assert_eq!(
            url_with_database("postgresql://h?application_name=a", "x").unwrap(),
            "postgresql://h/x?application_name=a"
        );
        assert!(url_with_database("host=h dbname=x", "y").is_err());
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
