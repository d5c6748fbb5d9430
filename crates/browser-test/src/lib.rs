//! Headless Chromium for UI tests, driven through `chromedriver` with [fantoccini].
//!
//! [`Browser::launch`] starts `chromedriver` on a free loopback port, opens a WebDriver session
//! with headless Chromium in a fresh profile directory, and hands back a [`Browser`] with the
//! few operations UI tests need (navigate, find, read text, click, fill, submit, screenshot).
//! Dropping the [`Browser`] closes the session, stops `chromedriver` and removes the profile:
//! no process outlives the handle.
//!
//! Binaries: `chromedriver` from `CHROMEDRIVER`, else `PATH`, else `/usr/bin/chromedriver`;
//! Chromium from `CHROME_BIN`, else `/usr/bin/chromium`. When either is missing, launching
//! fails with an error that says how to install them ([`INSTALL_HINT`]): a UI test never skips
//! silently. Nothing is ever downloaded.
//!
//! Architecture Invariant: this crate is test support only. It opens nothing but loopback
//! connections and starts nothing but the two binaries above.

use std::ffi::{OsStr, OsString};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use fantoccini::elements::Element;
pub use fantoccini::Client;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How to install the browser and its driver on Debian.
pub const INSTALL_HINT: &str = "apt-get install chromium chromium-driver";

/// The Chromium arguments of every session (the profile directory is added per session).
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How long `chromedriver` may take to listen, and element waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a browser operation failed. Messages name the selector or binary involved.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// `chromedriver` or Chromium is not installed.
    #[error("{what} not found (looked at {looked}); install it with `{INSTALL_HINT}`")]
    Missing {
        /// `chromedriver` or `chromium`.
        what: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// `chromedriver` did not start or did not listen.
    #[error("starting chromedriver: {0}")]
    Start(String),
    /// The WebDriver session could not be created.
    #[error("creating the WebDriver session: {0}")]
    Session(String),
    /// A WebDriver command failed.
    #[error("{action}: {message}")]
    Command {
        /// What was attempted, naming the selector.
        action: String,
        /// The driver's answer.
        message: String,
    },
    /// A file could not be written or a process could not be started.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How long [`Browser::submit`] waits for the page a form leads to.
pub const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(15);

/// A global the current page is marked with before a navigation, to tell the new page from it.
const OLD_PAGE_MARK: &str = "__browserTestOldPage";

/// Shorthand for browser results.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

fn command_error(
    action: impl Into<String>,
) -> impl FnOnce(fantoccini::error::CmdError) -> BrowserError {
    let action = action.into();
    move |error| BrowserError::Command {
        action,
        message: error.to_string(),
    }
}

/// The binaries a session needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `chromedriver`.
    pub chromedriver: PathBuf,
    /// Chromium.
    pub chromium: PathBuf,
}

impl Binaries {
    /// Finds `chromedriver` and Chromium, or says how to install them.
    pub fn locate() -> Result<Binaries> {
        Binaries::locate_with(|name| std::env::var_os(name))
    }

    /// [`Binaries::locate`] reading the environment through `env` (`CHROMEDRIVER`,
    /// `CHROME_BIN`, `PATH`).
    pub fn locate_with(env: impl Fn(&str) -> Option<OsString>) -> Result<Binaries> {
        let chromedriver = match env("CHROMEDRIVER") {
            Some(path) => Some(PathBuf::from(path)),
            None => env("PATH")
                .and_then(|path| search_path(&path, "chromedriver"))
                .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver"))),
        }
        .filter(|path| path.is_file())
        .ok_or_else(|| BrowserError::Missing {
            what: "chromedriver",
            looked: "CHROMEDRIVER, PATH and /usr/bin/chromedriver".into(),
        })?;
        let chromium = env("CHROME_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        if !chromium.is_file() {
            return Err(BrowserError::Missing {
                what: "chromium",
                looked: format!("{} (CHROME_BIN or /usr/bin/chromium)", chromium.display()),
            });
        }
        Ok(Binaries {
            chromedriver,
            chromium,
        })
    }
}

fn search_path(path: &OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A fresh, unique directory under the system temp directory.
pub fn fresh_temp_dir(prefix: &str) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A running `chromedriver`.
struct Driver {
    child: Child,
    port: u16,
    /// Holds the profile directory and the driver's log.
    dir: PathBuf,
}

impl Driver {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn log_tail(dir: &Path) -> String {
        let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Whether the chromedriver logging to `dir` has said it started on `port`.
    fn started_on(dir: &Path, port: u16) -> bool {
        std::fs::read_to_string(dir.join("chromedriver.log"))
            .is_ok_and(|log| log.contains(&format!("started successfully on port {port}")))
    }

    /// Starts `chromedriver` on a free loopback port. The port is found by binding port 0 and
    /// releasing it, so another process may take it first: that attempt is retried.
    async fn start(binary: &Path, dir: PathBuf) -> Result<Driver> {
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let mut command = Command::new(binary);
            command
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.join("chromedriver.log").display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own process group, so that cleanup can reach Chromium even if the driver
            // dies without closing it.
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt as _;
                command.process_group(0);
            }
            let mut child = command
                .spawn()
                .map_err(|e| BrowserError::Start(format!("running {}: {e}", binary.display())))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + DEFAULT_TIMEOUT;
            loop {
                // Listening is not enough: another process may have taken the port. Ours says
                // in its own log that it started on it.
                if Driver::started_on(&dir, port)
                    && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                {
                    return Ok(Driver { child, port, dir });
                }
                if let Some(status) = child.try_wait()? {
                    last_error = format!(
                        "chromedriver exited with {status} before listening on port {port}:\n{}",
                        Driver::log_tail(&dir)
                    );
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BrowserError::Start(format!(
                        "chromedriver did not listen on port {port} within {DEFAULT_TIMEOUT:?}:\n{}",
                        Driver::log_tail(&dir)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(BrowserError::Start(last_error))
    }

    /// Deletes a session with a blocking request: usable from `Drop`, whatever runtime (if
    /// any) is still running. Chromedriver answers once Chromium has quit.
    fn delete_session(&self, session_id: &str) {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(2))
        else {
            return;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_read_timeout(Some(DEFAULT_TIMEOUT));
        let request = format!(
            "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            read_response(&mut stream);
        }
    }

    /// Stops the driver and anything it left behind, then removes the directory.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        #[cfg(unix)]
        {
            // The driver's process group: Chromium and its helpers, should the session not
            // have closed them.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        kill_processes_mentioning(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads one HTTP response (headers and a `Content-Length` body). Chromedriver keeps the
/// connection open despite `Connection: close`, so reading to the end would wait for the
/// timeout.
fn read_response(stream: &mut TcpStream) {
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
        let Some(header_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let headers = String::from_utf8_lossy(&response[..header_end]).to_ascii_lowercase();
        let length = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if response.len() >= header_end + 4 + length {
            return;
        }
    }
}

/// The ids of processes whose command line mentions `needle` (Linux; elsewhere none).
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Chromium processes that escaped their process group (a zygote may start its own session)
/// still name the profile directory on their command line.
fn kill_processes_mentioning(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = processes_mentioning(dir);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A headless Chromium session. Dropping it closes the session and stops `chromedriver`.
pub struct Browser {
    client: Option<Client>,
    session_id: Option<String>,
    driver: Driver,
    profile: PathBuf,
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session in a fresh profile.
    pub async fn launch() -> Result<Browser> {
        let binaries = Binaries::locate()?;
        let dir = fresh_temp_dir("browser-test")?;
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile)?;
        let driver = Driver::start(&binaries.chromedriver, dir).await?;
        // From here on, dropping `browser` cleans up.
        let mut browser = Browser {
            client: None,
            session_id: None,
            driver,
            profile,
        };
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": binaries.chromium.to_string_lossy(),
                "args": args,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://{}", browser.driver.addr()))
            .await
            .map_err(|e| {
                BrowserError::Session(format!(
                    "{e}\nchromedriver log:\n{}",
                    Driver::log_tail(&browser.driver.dir)
                ))
            })?;
        browser.session_id = client
            .session_id()
            .await
            .map_err(command_error("reading the session id"))?;
        browser.client = Some(client);
        Ok(browser)
    }

    /// The fantoccini client, for anything this handle does not wrap.
    pub fn client(&self) -> &Client {
        match &self.client {
            Some(client) => client,
            // `client` is only `None` during `launch` and after `close`, which consumes self.
            None => unreachable!("the browser session is open"),
        }
    }

    /// The Chromium profile directory of this session.
    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client()
            .goto(url)
            .await
            .map_err(command_error(format!("navigating to {url}")))
    }

    /// The current URL.
    pub async fn current_url(&self) -> Result<String> {
        Ok(self
            .client()
            .current_url()
            .await
            .map_err(command_error("reading the current URL"))?
            .to_string())
    }

    /// The page title.
    pub async fn title(&self) -> Result<String> {
        self.client()
            .title()
            .await
            .map_err(command_error("reading the title"))
    }

    /// The page's current DOM, serialised.
    pub async fn source(&self) -> Result<String> {
        self.client()
            .source()
            .await
            .map_err(command_error("reading the page source"))
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.client()
            .find(Locator::Css(css))
            .await
            .map_err(command_error(format!("finding `{css}`")))
    }

    /// Every element matching the CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .map_err(command_error(format!("finding all `{css}`")))
    }

    /// How many elements match the CSS selector.
    pub async fn count(&self, css: &str) -> Result<usize> {
        Ok(self.find_all(css).await?.len())
    }

    /// Waits up to `timeout` for an element matching the CSS selector.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        self.client()
            .wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
            .map_err(command_error(format!("waiting for `{css}`")))
    }

    /// The rendered text of the first element matching the CSS selector.
    pub async fn text(&self, css: &str) -> Result<String> {
        self.find(css)
            .await?
            .text()
            .await
            .map_err(command_error(format!("reading the text of `{css}`")))
    }

    /// An attribute of the first element matching the CSS selector.
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        self.find(css)
            .await?
            .attr(name)
            .await
            .map_err(command_error(format!("reading `{name}` of `{css}`")))
    }

    /// Clicks the first element matching the CSS selector.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.find(css)
            .await?
            .click()
            .await
            .map_err(command_error(format!("clicking `{css}`")))
    }

    /// Replaces the value of the input matching the CSS selector by typing `value`.
    pub async fn fill(&self, css: &str, value: &str) -> Result<()> {
        let element = self.find(css).await?;
        element
            .clear()
            .await
            .map_err(command_error(format!("clearing `{css}`")))?;
        element
            .send_keys(value)
            .await
            .map_err(command_error(format!("typing into `{css}`")))
    }

    /// Submits the form matching the CSS selector: clicks its submit button as a user would,
    /// or submits it directly when it has none. Then waits, up to [`NAVIGATION_TIMEOUT`], until
    /// the page the form leads to has loaded: a server-rendered form always navigates, and a
    /// read made before the new page arrives would read the old one.
    pub async fn submit(&self, css: &str) -> Result<()> {
        self.execute(
            &format!("window.{OLD_PAGE_MARK} = true; return null;"),
            Vec::new(),
        )
        .await?;
        let form = self
            .client()
            .form(Locator::Css(css))
            .await
            .map_err(command_error(format!("finding form `{css}`")))?;
        match form.submit().await {
            Ok(()) => {}
            Err(error) if error.is_no_such_element() => form
                .submit_direct()
                .await
                .map_err(command_error(format!("submitting `{css}`")))?,
            Err(error) => return Err(command_error(format!("submitting `{css}`"))(error)),
        }
        self.wait_for_new_page(&format!("submitting `{css}`")).await
    }

    /// Waits until the page marked with [`OLD_PAGE_MARK`] has been replaced and the new one
    /// has loaded. A script run while the navigation is under way may fail; that is "not yet".
    async fn wait_for_new_page(&self, action: &str) -> Result<()> {
        let script = format!(
            "return window.{OLD_PAGE_MARK} === undefined && document.readyState === 'complete';"
        );
        let deadline = Instant::now() + NAVIGATION_TIMEOUT;
        loop {
            if let Ok(Value::Bool(true)) = self.client().execute(&script, Vec::new()).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Command {
                    action: action.to_owned(),
                    message: format!(
                        "no new page loaded within {} s",
                        NAVIGATION_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs JavaScript in the page; `arguments[i]` are `args`.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.client()
            .execute(script, args)
            .await
            .map_err(command_error("running a script"))
    }

    /// The text of an open alert, confirm or prompt dialog, if one is open.
    pub async fn alert_text(&self) -> Result<Option<String>> {
        match self.client().get_alert_text().await {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.is_no_such_alert() => Ok(None),
            Err(error) => Err(command_error("reading the alert")(error)),
        }
    }

    /// Resizes the window; in headless mode the viewport is the whole window.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.client()
            .set_window_size(width, height)
            .await
            .map_err(command_error(format!(
                "resizing the window to {width}x{height}"
            )))
    }

    /// The viewport's CSS size (`innerWidth`, `innerHeight`).
    pub async fn viewport_size(&self) -> Result<(u64, u64)> {
        let size = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let dimension = |i: usize| size.get(i).and_then(Value::as_u64).unwrap_or_default();
        Ok((dimension(0), dimension(1)))
    }

    /// Saves a PNG screenshot of the viewport to `path` and returns its size in bytes.
    pub async fn screenshot(&self, path: &Path) -> Result<usize> {
        let png = self
            .client()
            .screenshot()
            .await
            .map_err(command_error("taking a screenshot"))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &png)?;
        Ok(png.len())
    }

    /// Closes the session and stops the driver, reporting a failure to close (dropping does
    /// the same silently).
    pub async fn close(mut self) -> Result<()> {
        let result = match self.client.take() {
            Some(client) => client
                .close()
                .await
                .map_err(command_error("closing the session")),
            None => Ok(()),
        };
        if result.is_ok() {
            self.session_id = None;
        }
        result
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session_id) = self.session_id.take() {
            self.driver.delete_session(&session_id);
        }
        drop(self.client.take());
        self.driver.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_how_to_install_them() {
        let no_driver = Binaries::locate_with(|name| match name {
            "CHROMEDRIVER" => Some("/nonexistent/chromedriver".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(matches!(
            no_driver,
            BrowserError::Missing {
                what: "chromedriver",
                ..
            }
        ));
        assert!(no_driver.to_string().contains(INSTALL_HINT), "{no_driver}");

        let no_browser = Binaries::locate_with(|name| match name {
            "CHROMEDRIVER" => Some(std::env::current_exe().unwrap().into()),
            "CHROME_BIN" => Some("/nonexistent/chromium".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(matches!(
            no_browser,
            BrowserError::Missing {
                what: "chromium",
                ..
            }
        ));
        assert!(
            no_browser.to_string().contains(INSTALL_HINT),
            "{no_browser}"
        );
    }
}
