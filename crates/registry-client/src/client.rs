//! The HTTP client for the Registry API v1.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use signing::Secret;

use crate::bundle::PackageBundle;
use crate::model::{
    LifecycleUpdate, ListQuery, PackageLock, PackageRecord, PublicationList, PublishResponse,
    Receipt, RegistryKeys, TemplateList,
};
use crate::redact::{redact_secret, redact_secret_in_value, redact_url};
use crate::RegistryError;

/// The path every Registry API v1 route lives under.
pub const API_PREFIX: &str = "/registry-api/v1";

/// The largest response body accepted. Publications are capped at 5 MiB of request; a record
/// adds server-written fields, so this leaves ample room while bounding a hostile server.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A client for one Registry. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    api_base: String,
    token: Option<Secret>,
    max_response_bytes: usize,
}

/// Options for [`RegistryClient`]; start from [`RegistryClient::builder`].
#[derive(Debug)]
pub struct RegistryClientBuilder {
    base_url: String,
    token: Option<Secret>,
    timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: usize,
}

impl RegistryClientBuilder {
    /// A bearer token (a publish or admin token) sent with every request.
    pub fn token(mut self, token: Secret) -> Self {
        self.token = Some(token).filter(|token| !token.is_blank());
        self
    }

    /// The whole-request timeout (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<RegistryClient, RegistryError> {
        let api_base = api_base_url(&self.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("anip-registry-client/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: it would re-send a publication (and, across hosts,
            // take keys from a registry nobody named). A 3xx is a `Redirect` error instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| RegistryError::Transport {
                url: redact_url(&api_base),
                source: source.without_url(),
            })?;
        Ok(RegistryClient {
            http,
            api_base,
            token: self.token,
            max_response_bytes: self.max_response_bytes,
        })
    }
}

/// The API base for a registry URL: `http://host:8200` and `http://host:8200/registry-api/v1`
/// (with or without a trailing slash) both give `http://host:8200/registry-api/v1`. A path
/// prefix (a registry behind a reverse proxy) is kept. Credentials, a query or a fragment are
/// refused, and the error shows the URL without them ([`redact_url`]).
pub fn api_base_url(base_url: &str) -> Result<String, RegistryError> {
    let invalid = |reason: &str| RegistryError::InvalidBaseUrl {
        url: redact_url(base_url),
        reason: reason.to_owned(),
    };
    let trimmed = base_url.trim();
    let url = Url::parse(trimmed).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials in the URL are not accepted; use a token",
        ));
    }
    let base = url.as_str().trim_end_matches('/');
    Ok(if base.ends_with(API_PREFIX) {
        base.to_owned()
    } else {
        format!("{base}{API_PREFIX}")
    })
}

/// Percent-encodes one path segment: everything except RFC 3986 unreserved characters, so an
/// id containing `/` travels as one `%2F`-encoded segment.
fn encode_segment(what: &'static str, segment: &str) -> Result<String, RegistryError> {
    if segment.is_empty() || segment == "." || segment == ".." {
        // URL parsers resolve dot segments (even encoded ones): such an id cannot be sent.
        return Err(RegistryError::InvalidArgument {
            what,
            reason: format!("{segment:?} cannot be a path segment"),
        });
    }
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

impl RegistryClient {
    /// A client with default timeouts and no token. `base_url` is the API base
    /// (`http://host:8200/registry-api/v1`) or the host root, to which the API prefix is added.
    pub fn new(base_url: &str) -> Result<Self, RegistryError> {
        RegistryClient::builder(base_url).build()
    }

    /// A builder for a client with a token or other timeouts.
    pub fn builder(base_url: impl Into<String>) -> RegistryClientBuilder {
        RegistryClientBuilder {
            base_url: base_url.into(),
            token: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The API base every route is under, e.g. `http://host:8200/registry-api/v1`.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    fn url(
        &self,
        route: &str,
        ids: &[(&'static str, &str)],
        tail: &str,
    ) -> Result<Url, RegistryError> {
        let mut path = format!("{}/{route}", self.api_base);
        for (what, id) in ids {
            path.push('/');
            path.push_str(&encode_segment(what, id)?);
        }
        path.push_str(tail);
        Url::parse(&path).map_err(|err| RegistryError::InvalidBaseUrl {
            url: redact_url(&path),
            reason: err.to_string(),
        })
    }

    fn package_url(
        &self,
        package_id: &str,
        version: &str,
        tail: &str,
    ) -> Result<Url, RegistryError> {
        self.url(
            "packages",
            &[("package id", package_id), ("package version", version)],
            tail,
        )
    }

    fn template_url(
        &self,
        template_id: &str,
        version: &str,
        tail: &str,
    ) -> Result<Url, RegistryError> {
        self.url(
            "templates",
            &[("template id", template_id), ("template version", version)],
            tail,
        )
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<T, RegistryError> {
        // Errors name the URL without its query (the request's own, e.g. `allow_yanked`, is
        // harmless, but errors show URLs one way only).
        let url_text = redact_url(url.as_str());
        let request_url = url.clone();
        let mut request: RequestBuilder = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|source| RegistryError::Transport {
                url: url_text.clone(),
                source: source.without_url(),
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(self.redirect_error(status.as_u16(), url_text, &request_url, &response));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) =
            response
                .chunk()
                .await
                .map_err(|source| RegistryError::Transport {
                    url: url_text.clone(),
                    source: source.without_url(),
                })?
        {
            if bytes.len() + chunk.len() > self.max_response_bytes {
                return Err(RegistryError::ResponseTooLarge {
                    url: url_text,
                    limit: self.max_response_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(status_error(
                status.as_u16(),
                url_text,
                &bytes,
                self.secret(),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|err| RegistryError::Decode {
            url: url_text,
            // serde's message can quote the body: the token may be in it.
            reason: redact_secret(&err.to_string(), self.secret()),
        })
    }

    /// The token in use, for redacting it from what a Registry sends back.
    fn secret(&self) -> Option<&str> {
        self.token.as_ref().map(|token| token.expose())
    }

    /// The error for a 3xx answer: its status and `Location` (resolved against the request,
    /// redacted, and stripped of the token should the server echo it there).
    fn redirect_error(
        &self,
        status: u16,
        url: String,
        request_url: &Url,
        response: &reqwest::Response,
    ) -> RegistryError {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .map(|text| {
                let resolved = request_url
                    .join(text.trim())
                    .map(String::from)
                    .unwrap_or(text);
                let text: String = redact_url(&resolved)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                redact_secret(&text, self.secret())
                    .chars()
                    .take(512)
                    .collect()
            })
            .unwrap_or_else(|| "(none)".to_owned());
        RegistryError::Redirect {
            status,
            url,
            location,
        }
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, RegistryError> {
        self.send(Method::GET, url, None).await
    }

    /// `GET keys`: signing mode, active key id and the public keys.
    pub async fn keys(&self) -> Result<RegistryKeys, RegistryError> {
        self.get(self.url("keys", &[], "")?).await
    }

    /// `GET publications`, with optional paging and search.
    pub async fn publications(&self, query: &ListQuery) -> Result<PublicationList, RegistryError> {
        let mut url = self.url("publications", &[], "")?;
        append_query(&mut url, query);
        self.get(url).await
    }

    /// `GET packages/{id}/{v}`: the record (not a download; no download is counted).
    pub async fn package(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<PackageRecord, RegistryError> {
        self.get(self.package_url(package_id, version, "")?).await
    }

    /// `GET packages/{id}/{v}/download`: the record, counted as a download. A yanked package
    /// is a 410 unless `allow_yanked`; a taken down one always is.
    pub async fn download(
        &self,
        package_id: &str,
        version: &str,
        allow_yanked: bool,
    ) -> Result<PackageRecord, RegistryError> {
        let mut url = self.package_url(package_id, version, "/download")?;
        if allow_yanked {
            url.query_pairs_mut().append_pair("allow_yanked", "true");
        }
        self.get(url).await
    }

    /// `GET packages/{id}/{v}/lock`: the `anip-package-lock/v1` document.
    pub async fn lock(
        &self,
        package_id: &str,
        version: &str,
    ) -> Result<PackageLock, RegistryError> {
        self.get(self.package_url(package_id, version, "/lock")?)
            .await
    }

    /// `GET packages/{id}/{v}/receipt`.
    pub async fn receipt(&self, package_id: &str, version: &str) -> Result<Receipt, RegistryError> {
        self.get(self.package_url(package_id, version, "/receipt")?)
            .await
    }

    /// `POST publications` (needs a publish token): `request` is a publish request document.
    pub async fn publish(&self, request: &Value) -> Result<PublishResponse, RegistryError> {
        self.send(
            Method::POST,
            self.url("publications", &[], "")?,
            json_body(request)?,
        )
        .await
    }

    /// `GET templates`, with optional paging and search.
    pub async fn templates(&self, query: &ListQuery) -> Result<TemplateList, RegistryError> {
        let mut url = self.url("templates", &[], "")?;
        append_query(&mut url, query);
        self.get(url).await
    }

    /// `GET templates/{id}/{v}`: the template record.
    pub async fn template(&self, template_id: &str, version: &str) -> Result<Value, RegistryError> {
        self.get(self.template_url(template_id, version, "")?).await
    }

    /// `GET templates/{id}/{v}/download`: the template's package JSON, counted as a download.
    pub async fn download_template(
        &self,
        template_id: &str,
        version: &str,
    ) -> Result<Value, RegistryError> {
        self.get(self.template_url(template_id, version, "/download")?)
            .await
    }

    /// `GET templates/{id}/{v}/receipt`: the template receipt (templates are signed in our
    /// registry; upstream has no such route).
    pub async fn template_receipt(
        &self,
        template_id: &str,
        version: &str,
    ) -> Result<Value, RegistryError> {
        self.get(self.template_url(template_id, version, "/receipt")?)
            .await
    }

    /// `POST templates` (needs a publish token); returns `{template}`.
    pub async fn publish_template(&self, request: &Value) -> Result<Value, RegistryError> {
        self.send(
            Method::POST,
            self.url("templates", &[], "")?,
            json_body(request)?,
        )
        .await
    }

    /// `POST admin/imports` (needs the admin token): stores a bundle published elsewhere with
    /// its original digests and receipt.
    pub async fn import_bundle(&self, bundle: &PackageBundle) -> Result<Value, RegistryError> {
        self.send(
            Method::POST,
            self.url("admin/imports", &[], "")?,
            json_body(bundle)?,
        )
        .await
    }

    /// `PATCH admin/packages/{id}/{v}/lifecycle` (needs the admin token).
    pub async fn set_lifecycle(
        &self,
        package_id: &str,
        version: &str,
        update: &LifecycleUpdate,
    ) -> Result<Value, RegistryError> {
        let url = self.url(
            "admin/packages",
            &[("package id", package_id), ("package version", version)],
            "/lifecycle",
        )?;
        self.send(Method::PATCH, url, json_body(update)?).await
    }
}

/// A JSON request body.
fn json_body<T: Serialize + ?Sized>(value: &T) -> Result<Option<Vec<u8>>, RegistryError> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|err| RegistryError::InvalidArgument {
            what: "request body",
            reason: err.to_string(),
        })
}

fn append_query(url: &mut Url, query: &ListQuery) {
    let pairs = query.pairs();
    if !pairs.is_empty() {
        let mut serializer = url.query_pairs_mut();
        for (key, value) in pairs {
            serializer.append_pair(key, &value);
        }
    }
}

/// The error for a non-success answer: the registry's `{"error": ...}` message, else the start
/// of the body, with every occurrence of `secret` (the token sent) replaced.
fn status_error(status: u16, url: String, bytes: &[u8], secret: Option<&str>) -> RegistryError {
    const MAX_MESSAGE: usize = 512;
    let mut body: Option<Value> = serde_json::from_slice(bytes).ok();
    if let Some(body) = &mut body {
        redact_secret_in_value(body, secret);
    }
    let message = body
        .as_ref()
        .and_then(|body| body.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).trim().to_owned());
    // Control characters go first (one inside the token must not hide it), then the token,
    // then the length: a token cut in half at the limit cannot survive.
    let message: String = message.chars().filter(|c| !c.is_control()).collect();
    let mut message: String = redact_secret(&message, secret)
        .chars()
        .take(MAX_MESSAGE)
        .collect();
    if message.is_empty() {
        message = "(no error message)".to_owned();
    }
    RegistryError::Status {
        status,
        url,
        message,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_gain_the_api_prefix_once() {
        for (given, expected) in [
            ("http://h:8200", "http://h:8200/registry-api/v1"),
            ("http://h:8200/", "http://h:8200/registry-api/v1"),
            (
                "http://h:8200/registry-api/v1",
                "http://h:8200/registry-api/v1",
            ),
            ("https://h/registry-api/v1/", "https://h/registry-api/v1"),
            ("https://h/proxy", "https://h/proxy/registry-api/v1"),
        ] {
            assert_eq!(api_base_url(given).unwrap(), expected, "{given}");
        }
        for bad in ["", "h:8200", "ftp://h", "http://u:p@h", "http://h/?x=1"] {
            assert!(api_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_with_slashes_are_one_segment() {
        let client = RegistryClient::new("http://h:8200").unwrap();
        let url = client
            .package_url("acme/billing service", "1.0.0+b", "/receipt")
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:8200/registry-api/v1/packages/acme%2Fbilling%20service/1.0.0%2Bb/receipt"
        );
        assert!(client.package_url("..", "1", "").is_err());
        assert!(client.package_url("p", "", "").is_err());
    }

    #[test]
    fn error_bodies_give_the_registry_message() {
        let error = status_error(
            410,
            "u".into(),
            br#"{"error":"package is yanked","lifecycle":{"status":"yanked","reason":"bad"}}"#,
            None,
        );
        assert_eq!(error.status(), Some(410));
        assert!(error.to_string().contains("410"));
        assert!(error.to_string().contains("package is yanked"));
        assert_eq!(error.lifecycle().unwrap().status, "yanked");
        let plain = status_error(502, "u".into(), b"bad gateway\n", None);
        assert!(plain.to_string().ends_with("bad gateway"));
        assert!(plain.lifecycle().is_none());
    }

    #[test]
    fn list_queries() {
        let client = RegistryClient::new("http://h").unwrap();
        let mut url = client.url("publications", &[], "").unwrap();
        append_query(
            &mut url,
            &ListQuery {
                limit: Some(10),
                offset: Some(20),
                q: Some("a b&c".into()),
            },
        );
        assert_eq!(
            url.as_str(),
            "http://h/registry-api/v1/publications?limit=10&offset=20&q=a+b%26c"
        );
    }
}
