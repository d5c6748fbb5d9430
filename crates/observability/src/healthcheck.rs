//! `<binary> healthcheck URL`: a container health check without a shell or curl.
//!
//! Our images are `FROM scratch`, so a `HEALTHCHECK` or compose `healthcheck` cannot call curl.
//! Each binary answers `healthcheck http://127.0.0.1:PORT/PATH` itself: one plain HTTP/1.1 GET
//! on loopback, exit 0 on a 200 and 1 otherwise. It reads no configuration, so it needs neither
//! the database URL nor any secret.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// If the process was started as `<binary> healthcheck URL`, runs the check and returns the
/// exit code; otherwise `None` and the binary starts normally.
pub fn from_args() -> Option<ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("healthcheck") {
        return None;
    }
    let Some(url) = args.next() else {
        eprintln!("usage: healthcheck http://127.0.0.1:PORT/PATH");
        return Some(ExitCode::from(2));
    };
    Some(match status(&url, Duration::from_secs(3)) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("{url} answered {code}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{url}: {error}");
            ExitCode::FAILURE
        }
    })
}

/// The status code of one `GET` of a plain `http://host:port/path` URL.
pub fn status(url: &str, timeout: Duration) -> std::io::Result<u16> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are checked"))?;
    let (host, path) = match rest.split_once('/') {
        Some((host, path)) => (host, format!("/{path}")),
        None => (rest, "/".to_owned()),
    };
    let address = std::net::ToSocketAddrs::to_socket_addrs(host)?
        .next()
        .ok_or_else(|| invalid("the host does not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: anip-healthcheck\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("not an HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_unhealthy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        assert!(status(
            &format!("http://127.0.0.1:{port}/x"),
            Duration::from_millis(500)
        )
        .is_err());
        assert!(status("https://127.0.0.1:1/", Duration::from_millis(100)).is_err());
    }
}
