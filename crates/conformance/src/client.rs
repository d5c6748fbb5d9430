//! The one HTTP helper of the suite: requests against the target's base URL that always come
//! back as a status and a body, so a check can assert on either.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::ConformanceError;

/// One HTTP answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status (0 when the request did not get an answer).
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The raw body bytes.
    pub raw: Vec<u8>,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Why there was no answer, when `status` is 0.
    pub error: Option<String>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// This response when it has `status`; otherwise a check's failure detail: `what` was
    /// asked, then the [`summary`](Response::summary) of what came back.
    pub(crate) fn require_status(
        self,
        status: u16,
        what: impl fmt::Display,
    ) -> Result<Self, String> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!("{what}: {}", self.summary()))
        }
    }

    /// `status body` in one short line, for failure details (an issued `token` redacted).
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return format!("no answer: {error}");
        }
        // An issued token is a credential: it never reaches a report.
        let mut text = match &self.body {
            Value::Object(map) if map.get("token").is_some_and(Value::is_string) => {
                let mut redacted = map.clone();
                redacted.insert("token".into(), Value::String("[redacted]".into()));
                Value::Object(redacted).to_string()
            }
            _ => String::from_utf8_lossy(&self.raw).into_owned(),
        };
        if text.len() > 300 {
            let mut cut = 300;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        format!("{} {}", self.status, text.replace('\n', " "))
    }
}

/// A client bound to one base URL.
#[derive(Clone)]
pub(crate) struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    pub(crate) fn new(base_url: &str) -> Result<Self, ConformanceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ConformanceError::Client(e.to_string()))?;
        Ok(Http {
            base: base_url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `method path` with an optional bearer and JSON body.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.client.request(method, self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_ascii_lowercase(),
                            v.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                match response.bytes().await {
                    Ok(bytes) => Response {
                        status,
                        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        raw: bytes.to_vec(),
                        headers,
                        error: None,
                    },
                    Err(e) => Response {
                        status,
                        body: Value::Null,
                        raw: Vec::new(),
                        headers,
                        error: Some(e.to_string()),
                    },
                }
            }
            Err(e) => Response {
                status: 0,
                body: Value::Null,
                raw: Vec::new(),
                headers: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.send("GET", path, None, None).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        self.send("POST", path, bearer, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_redact_issued_tokens() {
        let body = json!({"issued": true, "token": "eyJhbGciOiJFUzI1NiJ9.e30.sig", "token_id": "anip-0123456789ab"});
        let response = Response {
            status: 200,
            raw: serde_json::to_vec(&body).unwrap_or_default(),
            body,
            headers: Vec::new(),
            error: None,
        };
        let summary = response.summary();
        assert!(!summary.contains("eyJ"), "{summary}");
        assert!(summary.contains("anip-0123456789ab"), "{summary}");
    }

    #[test]
    fn an_unexpected_status_names_the_request_and_summarizes_the_answer() {
        let response = |status: u16| Response {
            status,
            raw: br#"{"success":false}"#.to_vec(),
            body: json!({"success": false}),
            headers: Vec::new(),
            error: None,
        };
        assert_eq!(
            response(200).require_status(200, "GET x").unwrap().status,
            200
        );
        assert_eq!(
            response(500)
                .require_status(200, format_args!("GET {}", "x"))
                .unwrap_err(),
            r#"GET x: 500 {"success":false}"#
        );
    }
}
