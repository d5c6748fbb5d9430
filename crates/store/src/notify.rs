//! `LISTEN` sessions: a dedicated connection whose notifications arrive on a channel.

use futures_util::future::poll_fn;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;

use crate::url::{describe_target, parse_target, quote_ident, DEFAULT_CONNECT_TIMEOUT};
use crate::StoreError;

/// A session listening on one channel. Dropping it closes the session.
pub struct Notifications {
    // Kept so the session stays open; notifications come from the connection task.
    _client: tokio_postgres::Client,
    rx: mpsc::UnboundedReceiver<String>,
    driver: JoinHandle<()>,
}

impl Notifications {
    /// The next notification's payload; `None` once the session is lost (the caller reconnects,
    /// knowing that notifications sent meanwhile were missed).
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Opens a dedicated session to `url` (TLS as its `sslmode` asks) and runs `LISTEN channel`.
pub async fn listen(url: &str, channel: &str) -> Result<Notifications, StoreError> {
    let target = parse_target(url)?;
    let mut config = target.config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    let (client, mut connection) =
        config
            .connect(target.tls.clone())
            .await
            .map_err(|e| StoreError::Unreachable {
                target: describe_target(&target.config),
                reason: e.to_string(),
            })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let notifications = Notifications {
        _client: client,
        rx,
        driver,
    };
    notifications
        ._client
        .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
        .await?;
    Ok(notifications)
}
