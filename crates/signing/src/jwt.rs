//! ES256 JSON Web Tokens: signing claims, and verifying signature, expiry and audience.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::b64;
use crate::es256::{Es256KeyPair, Es256PublicKey, Jwks};
use crate::jws::{self, JwsHeader};
use crate::SigningError;

/// The claims of a verified token.
pub type Claims = Map<String, Value>;

/// Signs `claims` (anything that serializes to a JSON object) as an ES256 JWT with header
/// `{"alg":"ES256","kid":...,"typ":"JWT"}`.
///
/// Claims are written with `serde_json` (compact, member order as given), not with the Go
/// encoder: a token only has to verify, and `serde_json` keeps integers above 2^53 exact.
pub fn sign<T: Serialize + ?Sized>(key: &Es256KeyPair, claims: &T) -> Result<String, SigningError> {
    let value = serde_json::to_value(claims)?;
    if !value.is_object() {
        return Err(SigningError::Json(
            "JWT claims must be a JSON object".to_owned(),
        ));
    }
    let header = JwsHeader::es256(&key.kid(), Some("JWT"));
    jws::sign_compact_with_header(key, &header, &serde_json::to_vec(&value)?)
}

/// What [`verify`] checks besides the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The audience the token must name in `aud` (a string, or an array containing it).
    /// `None` skips the check.
    pub audience: Option<String>,
    /// Seconds of clock skew tolerated for `exp` and `nbf`.
    pub leeway_seconds: i64,
    /// The current time in seconds since the epoch; `None` reads the system clock.
    pub now: Option<i64>,
    /// Whether a token without `exp` is rejected. ANIP tokens always carry one.
    pub require_exp: bool,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            audience: None,
            leeway_seconds: 0,
            now: None,
            require_exp: true,
        }
    }
}

impl Validation {
    /// Requires `exp`, no audience check, no leeway, system clock.
    pub fn new() -> Self {
        Validation::default()
    }

    /// Requires this audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Tolerates this much clock skew.
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway_seconds = seconds;
        self
    }

    /// Checks times against `now` (seconds since the epoch) instead of the system clock.
    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }
}

/// Reads a token's header and claims without verifying anything.
pub fn decode_unverified(token: &str) -> Result<(JwsHeader, Claims), SigningError> {
    let header = jws::decode_header(token)?;
    let payload_b64 = token.split('.').nth(1).unwrap_or_default();
    let claims = parse_claims(&b64::decode_url(payload_b64, "JWT claims")?)?;
    Ok((header, claims))
}

/// Verifies a JWT: structure, `alg` ES256, `typ` (absent or `JWT`), the signature, then
/// `exp`, `nbf` and `aud` per `validation`. Returns the claims.
///
/// The signature is checked before any claim, so a forged token never reports "expired".
pub fn verify(
    key: &Es256PublicKey,
    token: &str,
    validation: &Validation,
) -> Result<Claims, SigningError> {
    let (header, payload) = jws::verify_compact(key, token)?;
    if let Some(typ) = header.typ.as_deref() {
        if !typ.eq_ignore_ascii_case("JWT") {
            return Err(SigningError::MalformedToken(format!(
                "typ {typ:?} is not JWT"
            )));
        }
    }
    let claims = parse_claims(&payload)?;
    check_claims(&claims, validation)?;
    Ok(claims)
}

/// Like [`verify`], with the key chosen from `jwks` by the token's `kid`.
pub fn verify_with_jwks(
    jwks: &Jwks,
    token: &str,
    validation: &Validation,
) -> Result<Claims, SigningError> {
    let header = jws::decode_header(token)?;
    let kid = header
        .kid
        .ok_or_else(|| SigningError::MalformedToken("header has no kid".to_owned()))?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| SigningError::UnknownKeyId(kid.clone()))?;
    verify(&Es256PublicKey::from_jwk(jwk)?, token, validation)
}

fn parse_claims(payload: &[u8]) -> Result<Claims, SigningError> {
    serde_json::from_slice(payload)
        .map_err(|_| SigningError::MalformedToken("claims are not a JSON object".to_owned()))
}

/// A NumericDate claim as whole seconds (fractions are truncated, as Go's `int64(exp)`).
fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<i64>, SigningError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| SigningError::MalformedToken(format!("{name} must be a number"))),
    }
}

fn check_claims(claims: &Claims, validation: &Validation) -> Result<(), SigningError> {
    let now = validation
        .now
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let leeway = validation.leeway_seconds.max(0);

    match numeric_date(claims, "exp")? {
        // Valid through the second `exp` itself, as upstream (`now > exp` is expired).
        Some(exp) if now > exp.saturating_add(leeway) => {
            return Err(SigningError::TokenExpired { exp, now });
        }
        Some(_) => {}
        None if validation.require_exp => return Err(SigningError::MissingClaim("exp")),
        None => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now.saturating_add(leeway) < nbf {
            return Err(SigningError::TokenNotYetValid { nbf, now });
        }
    }
    if let Some(expected) = validation.audience.as_deref() {
        let matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == expected,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(expected)),
            _ => false,
        };
        if !matches {
            return Err(SigningError::WrongAudience {
                expected: expected.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({
            "jti": "anip-0123456789ab",
            "iss": "svc",
            "aud": "svc",
            "sub": "agent:demo",
            "iat": NOW,
            "exp": NOW + 7200,
            "scope": ["travel.search"],
            "parent_token_id": null,
        })
    }

    #[test]
    fn round_trip() {
        let key = Es256KeyPair::generate().unwrap();
        let token = sign(&key, &claims()).unwrap();
        let validation = Validation::new().with_audience("svc").at(NOW);
        let verified = verify(key.public_key(), &token, &validation).unwrap();
        assert_eq!(Value::Object(verified), claims());

        let (header, unverified) = decode_unverified(&token).unwrap();
        assert_eq!(header, JwsHeader::es256(&key.kid(), Some("JWT")));
        assert_eq!(unverified["sub"], "agent:demo");
        let header_json = b64::decode_url(token.split('.').next().unwrap(), "h").unwrap();
        assert_eq!(
            String::from_utf8(header_json).unwrap(),
            format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, key.kid())
        );
    }

    #[test]
    fn typed_claims_serialize() {
        #[derive(Serialize)]
        struct Minimal<'a> {
            sub: &'a str,
            exp: i64,
        }
        let key = Es256KeyPair::generate().unwrap();
        let token = sign(&key, &Minimal { sub: "s", exp: NOW }).unwrap();
        let verified = verify(key.public_key(), &token, &Validation::new().at(NOW)).unwrap();
        assert_eq!(verified["sub"], "s");
        assert!(sign(&key, &json!(["not", "an", "object"])).is_err());
    }

    #[test]
    fn expiry_with_leeway() {
        let key = Es256KeyPair::generate().unwrap();
        let token = sign(&key, &claims()).unwrap();
        let exp = NOW + 7200;
        assert!(verify(key.public_key(), &token, &Validation::new().at(exp)).is_ok());
        assert_eq!(
            verify(key.public_key(), &token, &Validation::new().at(exp + 1)),
            Err(SigningError::TokenExpired { exp, now: exp + 1 })
        );
        assert!(verify(
            key.public_key(),
            &token,
            &Validation::new().at(exp + 30).with_leeway(30)
        )
        .is_ok());
        assert!(matches!(
            verify(
                key.public_key(),
                &token,
                &Validation::new().at(exp + 31).with_leeway(30)
            ),
            Err(SigningError::TokenExpired { .. })
        ));
        // With the system clock, a token that expired in 1970 is expired.
        let old = sign(&key, &json!({"exp": 60})).unwrap();
        assert!(matches!(
            verify(key.public_key(), &old, &Validation::new()),
            Err(SigningError::TokenExpired { exp: 60, .. })
        ));
    }

    #[test]
    fn missing_or_malformed_exp_and_nbf() {
        let key = Es256KeyPair::generate().unwrap();
        let no_exp = sign(&key, &json!({"sub": "s"})).unwrap();
        assert_eq!(
            verify(key.public_key(), &no_exp, &Validation::new().at(NOW)),
            Err(SigningError::MissingClaim("exp"))
        );
        let lenient = Validation {
            require_exp: false,
            ..Validation::new().at(NOW)
        };
        assert!(verify(key.public_key(), &no_exp, &lenient).is_ok());
        let text_exp = sign(&key, &json!({"exp": "tomorrow"})).unwrap();
        assert!(matches!(
            verify(key.public_key(), &text_exp, &Validation::new().at(NOW)),
            Err(SigningError::MalformedToken(_))
        ));
        let future = sign(&key, &json!({"exp": NOW + 100, "nbf": NOW + 10})).unwrap();
        assert_eq!(
            verify(key.public_key(), &future, &Validation::new().at(NOW)),
            Err(SigningError::TokenNotYetValid {
                nbf: NOW + 10,
                now: NOW
            })
        );
        assert!(verify(
            key.public_key(),
            &future,
            &Validation::new().at(NOW).with_leeway(10)
        )
        .is_ok());
    }

    #[test]
    fn audience_string_or_array() {
        let key = Es256KeyPair::generate().unwrap();
        let single = sign(&key, &claims()).unwrap();
        let wrong = Validation::new().with_audience("other").at(NOW);
        assert_eq!(
            verify(key.public_key(), &single, &wrong),
            Err(SigningError::WrongAudience {
                expected: "other".into()
            })
        );
        let mut many = claims();
        many["aud"] = json!(["a", "svc"]);
        let many = sign(&key, &many).unwrap();
        let validation = Validation::new().with_audience("svc").at(NOW);
        assert!(verify(key.public_key(), &many, &validation).is_ok());
        assert!(verify(key.public_key(), &many, &wrong).is_err());
        let mut none = claims();
        none.as_object_mut().unwrap().remove("aud");
        let none = sign(&key, &none).unwrap();
        assert!(matches!(
            verify(key.public_key(), &none, &validation),
            Err(SigningError::WrongAudience { .. })
        ));
        // Without an expected audience, aud is not checked.
        assert!(verify(key.public_key(), &none, &Validation::new().at(NOW)).is_ok());
    }

    #[test]
    fn tampering_is_a_bad_signature_even_when_also_expired() {
        let key = Es256KeyPair::generate().unwrap();
        let token = sign(&key, &claims()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged["scope"] = json!(["admin"]);
        forged["exp"] = json!(1);
        parts[1] = b64::encode_url(&serde_json::to_vec(&forged).unwrap());
        let forged = parts.join(".");
        assert_eq!(
            verify(key.public_key(), &forged, &Validation::new().at(NOW)),
            Err(SigningError::BadSignature)
        );
        let other = Es256KeyPair::generate().unwrap();
        assert_eq!(
            verify(other.public_key(), &token, &Validation::new().at(NOW)),
            Err(SigningError::BadSignature)
        );
        assert!(matches!(
            verify(key.public_key(), "a.b", &Validation::new()),
            Err(SigningError::MalformedToken(_))
        ));
    }

    #[test]
    fn non_jwt_typ_is_rejected() {
        let key = Es256KeyPair::generate().unwrap();
        let header = JwsHeader::es256(&key.kid(), Some("dpop+jwt"));
        let token = jws::sign_compact_with_header(&key, &header, br#"{"exp":1800000000}"#).unwrap();
        assert!(matches!(
            verify(key.public_key(), &token, &Validation::new().at(NOW)),
            Err(SigningError::MalformedToken(_))
        ));
    }

    #[test]
    fn jwks_selects_by_kid() {
        let sig = Es256KeyPair::generate().unwrap();
        let audit = Es256KeyPair::generate().unwrap();
        let jwks = Jwks {
            keys: vec![sig.jwk("sig"), audit.jwk("audit")],
        };
        let validation = Validation::new().at(NOW);
        let token = sign(&audit, &json!({"exp": NOW, "audit_hash": "ab"})).unwrap();
        let claims = verify_with_jwks(&jwks, &token, &validation).unwrap();
        assert_eq!(claims["audit_hash"], "ab");
        let stranger = Es256KeyPair::generate().unwrap();
        let token = sign(&stranger, &json!({"exp": NOW})).unwrap();
        assert_eq!(
            verify_with_jwks(&jwks, &token, &validation),
            Err(SigningError::UnknownKeyId(stranger.kid()))
        );
    }
}
