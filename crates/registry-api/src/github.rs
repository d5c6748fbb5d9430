//! The GitHub side of browser sign-in: the authorize URL, the code exchange and the profile
//! read (upstream's `defaultGitHubOAuthExchange`). Both GitHub base URLs are configurable, so
//! GitHub Enterprise works and tests can stand a local server in for github.com.
//!
//! Nothing here logs or returns the client secret, the code or the access token: errors carry
//! status codes and GitHub's short error code only.

use std::time::Duration;

use serde::Deserialize;
use signing::Secret;

use crate::store::sessions::GitHubIdentity;

/// The OAuth app and where GitHub lives.
#[derive(Clone)]
pub struct GitHubSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// `https://github.com` (authorize and token endpoints), no trailing slash.
    pub oauth_url: String,
    /// `https://api.github.com` (the user endpoint), no trailing slash.
    pub api_url: String,
}

/// Why a sign-in could not be completed at GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// GitHub could not be reached or did not answer in time.
    #[error("github request failed: {0}")]
    Transport(String),
    /// The token endpoint refused the code (`error` is GitHub's code, e.g. `bad_verification_code`).
    #[error("github token endpoint refused the code: HTTP {status}, {error}")]
    TokenRefused { status: u16, error: String },
    /// The user endpoint refused the access token.
    #[error("github user endpoint answered HTTP {0}")]
    Profile(u16),
    /// An answer that does not have the expected shape.
    #[error("github sent an unusable {0}")]
    Malformed(&'static str),
    /// The HTTP client could not be built.
    #[error("github client: {0}")]
    Client(String),
}

/// The configured GitHub OAuth app.
pub struct GitHubOAuth {
    settings: GitHubSettings,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

impl GitHubOAuth {
    /// A client with bounded timeouts and no redirects followed.
    pub fn new(settings: GitHubSettings) -> Result<Self, GitHubError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("anip-registry")
            .build()
            .map_err(|e| GitHubError::Client(e.without_url().to_string()))?;
        Ok(GitHubOAuth { settings, http })
    }

    /// Where to send the browser: GitHub's authorize page for this app.
    pub fn authorize_url(&self, state: &str, redirect_uri: &str) -> String {
        let query = [
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("scope", "read:user user:email"),
        ];
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        format!(
            "{}/login/oauth/authorize?{}",
            self.settings.oauth_url,
            encoded.join("&")
        )
    }

    /// Exchanges an authorization code for the GitHub account that granted it.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<GitHubIdentity, GitHubError> {
        let transport = |e: reqwest::Error| GitHubError::Transport(e.without_url().to_string());
        let response = self
            .http
            .post(format!(
                "{}/login/oauth/access_token",
                self.settings.oauth_url
            ))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose()),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let answer: TokenAnswer =
            serde_json::from_slice(&bytes).map_err(|_| GitHubError::Malformed("token answer"))?;
        drop(bytes);
        let access_token = Secret::new(answer.access_token);
        if !status.is_success() || access_token.is_blank() {
            return Err(GitHubError::TokenRefused {
                status: status.as_u16(),
                error: short_code(&answer.error),
            });
        }
        let response = self
            .http
            .get(format!("{}/user", self.settings.api_url))
            .bearer_auth(access_token.expose())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(GitHubError::Profile(response.status().as_u16()));
        }
        let profile: Profile = response
            .json()
            .await
            .map_err(|_| GitHubError::Malformed("user profile"))?;
        identity(profile)
    }
}

/// Checks and normalizes a profile into an identity.
fn identity(profile: Profile) -> Result<GitHubIdentity, GitHubError> {
    let login = profile.login.trim().to_owned();
    // GitHub logins: letters, digits and single hyphens, at most 39 characters.
    if profile.id == 0
        || login.is_empty()
        || login.len() > 100
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(GitHubError::Malformed("user profile"));
    }
    let clean = |value: Option<String>, max: usize| -> String {
        let value = value.unwrap_or_default();
        let value = value.trim();
        if value.len() > max || value.chars().any(char::is_control) {
            String::new()
        } else {
            value.to_owned()
        }
    };
    // A GitHub name with bidirectional formatting characters is not shown as is (it becomes
    // the publisher's display name): the login stands in, as for an empty name.
    let display_name = match clean(profile.name, 255) {
        name if name.is_empty() || crate::validate::has_bidi_control(&name) => login.clone(),
        name => name,
    };
    let profile_url = clean(profile.html_url, 2048);
    let profile_url = if profile_url.starts_with("https://") && !profile_url.contains(' ') {
        profile_url
    } else {
        String::new()
    };
    Ok(GitHubIdentity {
        github_user_id: profile.id.to_string(),
        login,
        display_name,
        email: clean(profile.email, 320),
        profile_url,
    })
}

/// GitHub's error code, kept only if it looks like one (it is logged).
fn short_code(error: &str) -> String {
    if !error.is_empty()
        && error.len() <= 64
        && error.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        error.to_owned()
    } else {
        "no error code".to_owned()
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_encodes_parameters() {
        let github = GitHubOAuth::new(GitHubSettings {
            client_id: "client 1".into(),
            client_secret: Secret::new("s"),
            oauth_url: "https://github.example".into(),
            api_url: "https://api.github.example".into(),
        })
        .unwrap();
        assert_eq!(
            github.authorize_url(
                "abc",
                "https://r.example/registry-api/v1/auth/github/callback"
            ),
            "https://github.example/login/oauth/authorize?client_id=client+1&redirect_uri=\
             https%3A%2F%2Fr.example%2Fregistry-api%2Fv1%2Fauth%2Fgithub%2Fcallback&state=abc&\
             scope=read%3Auser+user%3Aemail"
        );
    }

    #[test]
    fn profiles_are_checked() {
        let profile = |id: u64, login: &str, name: Option<&str>| Profile {
            id,
            login: login.into(),
            name: name.map(Into::into),
            email: None,
            html_url: Some("https://github.com/x".into()),
        };
        let ok = identity(profile(7, "Octo-Cat", None)).unwrap();
        assert_eq!(ok.display_name, "Octo-Cat");
        assert_eq!(ok.github_user_id, "7");
        assert_eq!(ok.profile_url, "https://github.com/x");
        assert!(identity(profile(0, "x", None)).is_err());
        assert!(identity(profile(1, "", None)).is_err());
        assert!(identity(profile(1, "a b", None)).is_err());
        assert_eq!(
            identity(profile(1, "x", Some("Bad\u{7}Name")))
                .unwrap()
                .display_name,
            "x"
        );
        assert_eq!(
            identity(profile(1, "x", Some("Evil\u{202E}moc.buhtig")))
                .unwrap()
                .display_name,
            "x"
        );
        assert_eq!(short_code("bad_verification_code"), "bad_verification_code");
        assert_eq!(short_code("<script>"), "no error code");
    }
}
