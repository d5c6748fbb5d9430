//! Memos for resolving bearers, which agents present on every call.
//!
//! [`VerifiedJwts`]: verifying an ES256 signature is the most expensive step of resolving a
//! bearer; the outcome of checking the signature and audience of a given string never changes
//! (the keys are fixed for the life of the process), so a token verified once is only checked
//! again for the claims that depend on the clock (`exp`, `nbf`). Exact.
//!
//! [`StoredChains`]: the stored token and its delegation chain, as read for an invocation, kept
//! for at most [`CHAIN_TTL`]. Stored tokens never change: the runtime has no operation that
//! alters, revokes or deletes one, and everything time-dependent (`expires_at` of the token and
//! its ancestors) is checked on every request against the values kept. What a memo could miss
//! is a row altered behind the runtime's back; on the invocation path that is honoured for at
//! most [`CHAIN_TTL`] after the row was last read, and every other path (token issuance,
//! permissions, audit, grants) reads the store each time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use signing::jwt::Claims;
use signing::SigningError;

use crate::delegation::Token;
use crate::keys::Keys;

/// Most JWTs remembered; when full the memo starts over (only valid tokens are ever added).
const CAPACITY: usize = 16_384;

/// Verified JWTs and their claims.
#[derive(Default)]
pub struct VerifiedJwts {
    entries: RwLock<HashMap<Box<str>, Arc<Claims>>>,
}

impl VerifiedJwts {
    /// What `keys.verify_jwt(jwt, audience)` answers at `now` (seconds since the epoch).
    pub fn verify(
        &self,
        keys: &Keys,
        jwt: &str,
        audience: &str,
        now: i64,
    ) -> Result<Arc<Claims>, SigningError> {
        let known = self
            .entries
            .read()
            .ok()
            .and_then(|entries| entries.get(jwt).cloned());
        if let Some(claims) = known {
            check_times(&claims, now)?;
            return Ok(claims);
        }
        let claims = Arc::new(keys.verify_jwt(jwt, audience)?);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(jwt.into(), claims.clone());
        }
        Ok(claims)
    }
}

/// How long a stored chain read for an invocation is used without reading it again.
pub const CHAIN_TTL: Duration = Duration::from_secs(1);

/// A delegation chain (root first, ending with the token) and when it was read.
type ReadChain = (Instant, Arc<Vec<Token>>);

/// Stored delegation chains by token id, as read recently.
#[derive(Default)]
pub struct StoredChains {
    entries: RwLock<HashMap<String, ReadChain>>,
}

impl StoredChains {
    /// The chain of `token_id` if it was read less than [`CHAIN_TTL`] before `now`.
    pub fn get(&self, token_id: &str, now: Instant) -> Option<Arc<Vec<Token>>> {
        let entries = self.entries.read().ok()?;
        let (read_at, chain) = entries.get(token_id)?;
        (now.saturating_duration_since(*read_at) < CHAIN_TTL).then(|| chain.clone())
    }

    /// Remembers the chain of `token_id` as read at `read_at`.
    pub fn insert(&self, token_id: &str, read_at: Instant, chain: Arc<Vec<Token>>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.retain(|_, (at, _)| read_at.saturating_duration_since(*at) < CHAIN_TTL);
                if entries.len() >= CAPACITY {
                    entries.clear();
                }
            }
            entries.insert(token_id.to_owned(), (read_at, chain));
        }
    }
}

/// A NumericDate claim in whole seconds, as `signing::jwt` reads it.
fn numeric_date(claims: &Claims, name: &str) -> Option<i64> {
    claims.get(name).and_then(|value| {
        value
            .as_i64()
            .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    })
}

/// The clock-dependent checks of `signing::jwt::verify` (no leeway).
fn check_times(claims: &Claims, now: i64) -> Result<(), SigningError> {
    if let Some(exp) = numeric_date(claims, "exp") {
        if now > exp {
            return Err(SigningError::TokenExpired { exp, now });
        }
    }
    if let Some(nbf) = numeric_date(claims, "nbf") {
        if now < nbf {
            return Err(SigningError::TokenNotYetValid { nbf, now });
        }
    }
    Ok(())
}

/// The `jti` claim.
pub fn token_id(claims: &Claims) -> Option<&str> {
    claims.get("jti").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_remembered_token_still_expires_and_forgeries_are_never_remembered() {
        let keys = Keys::ephemeral().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jwt = keys
            .sign_jwt(&json!({"jti": "anip-1", "aud": "svc", "exp": now + 60}))
            .unwrap();
        let memo = VerifiedJwts::default();
        assert_eq!(
            token_id(&memo.verify(&keys, &jwt, "svc", now).unwrap()),
            Some("anip-1")
        );
        assert!(memo.verify(&keys, &jwt, "svc", now + 60).is_ok());
        assert!(matches!(
            memo.verify(&keys, &jwt, "svc", now + 61),
            Err(SigningError::TokenExpired { .. })
        ));
        // A different audience was never verified, so it is checked (and refused) in full.
        let other = keys
            .sign_jwt(&json!({"jti": "anip-2", "aud": "other", "exp": now + 60}))
            .unwrap();
        assert!(memo.verify(&keys, &other, "svc", now).is_err());
        let mut forged = jwt.clone();
        forged.replace_range(forged.len() - 4.., "AAAA");
        assert!(memo.verify(&keys, &forged, "svc", now).is_err());
        assert_eq!(memo.entries.read().unwrap().len(), 1);
    }

    #[test]
    fn stored_chains_are_kept_briefly() {
        let chains = StoredChains::default();
        let start = Instant::now();
        chains.insert("anip-1", start, Arc::new(Vec::new()));
        assert!(chains.get("anip-1", start).is_some());
        assert!(chains.get("anip-1", start + CHAIN_TTL / 2).is_some());
        assert!(chains.get("anip-1", start + CHAIN_TTL).is_none());
        assert!(chains.get("anip-2", start).is_none());
    }
}
