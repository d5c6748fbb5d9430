//! `anip keygen`: a Registry signing key for an operator's secret manager.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use signing::{KeyId, SigningKey};

use crate::Outcome;

/// Arguments of `anip keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key id receipts will name (default: `anip-registry-ed25519-` and the first 12 hex
    /// digits of the public key's SHA-256). 1 to 128 of `A-Z a-z 0-9 . _ -`.
    #[arg(long, value_name = "ID", value_parser = parse_key_id)]
    key_id: Option<String>,
}

/// The longest key id accepted.
const MAX_KEY_ID_LEN: usize = 128;

/// A key id as `anip keygen` accepts it: only characters that need no quoting in a shell, an
/// env file (`docker --env-file`, `kubectl --from-env-file` take values literally, so the
/// output cannot simply quote) or an `ID=BASE64` key list.
fn parse_key_id(id: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.chars().all(allowed) {
        return Err(format!(
            "a key id is 1 to {MAX_KEY_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        ));
    }
    Ok(id.to_owned())
}

/// Prints the key as `ANIP_REGISTRY_KEY_ID` and `ANIP_REGISTRY_ED25519_PRIVATE_KEY` lines
/// (the seed in standard base64), and, as comments, the public key and the
/// `ANIP_REGISTRY_EXTRA_PUBLIC_KEYS` entry that keeps its receipts verifiable after a rotation.
/// Comments keep the output safe to load with `set -a; . file`: every value printed is a key id
/// (checked by [`parse_key_id`]) or standard base64, neither of which a shell interprets.
pub fn run(args: &KeygenArgs) -> anyhow::Result<Outcome> {
    let (key, seed) = SigningKey::generate().context("generating an Ed25519 key")?;
    let public = key.verifying_key();
    let key_id = match &args.key_id {
        Some(id) => KeyId::new(id.as_str())?,
        None => KeyId::new(format!(
            "anip-registry-ed25519-{}",
            &signing::sha256_hex(public.as_bytes())[..12]
        ))?,
    };
    let public = public.to_base64();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# ANIP Registry signing key. Store these two values in your secret manager; never commit\n\
         # them or pass them on a command line.\n\
         ANIP_REGISTRY_KEY_ID={key_id}\n\
         ANIP_REGISTRY_ED25519_PRIVATE_KEY={seed}\n\
         # Public key (safe to share; pin it with `anip package verify --trusted-key {key_id}=...`):\n\
         # {public}\n\
         # After rotating to a newer key, keep receipts signed by this one verifiable by adding\n\
         # this entry to ANIP_REGISTRY_EXTRA_PUBLIC_KEYS (comma-separated):\n\
         # ANIP_REGISTRY_EXTRA_PUBLIC_KEYS={key_id}={public}",
        seed = seed.expose(),
    )
    .context("writing to stdout")?;
    Ok(Outcome::Success)
}
