//! Package verification as plain functions over data: no HTTP, no files, no clock. An offline
//! bundle and an online fetch produce the same [`VerificationInput`] and get the same checks.
//!
//! The checks follow "A client verifies" of the Registry contract, in this order:
//!
//! | check | passes when |
//! | --- | --- |
//! | `identity` | the record's `package_id@package_version` is what was asked for and what the receipt, manifest, lock and (bundles) publication name |
//! | `publisher` | the receipt's (and publication's) publisher is the record's |
//! | `contract_signature` | only with an expected contract signature: the record's `contract_signature` is it (an optional `sha256:` prefix aside) |
//! | `manifest_digest`, `definition_digest`, `lock_digest` | the digest recomputed with `signing::digest` equals the recorded one |
//! | `execution_signature` | present, consistent between record, manifest and lock, and recomputes; **warn** when absent (legacy package) unless the policy requires it |
//! | `bundle_contents` | bundles only: the schema version is `anip-package-bundle/v1` and the top-level copies and `digests` equal the record |
//! | `receipt_id` | equals the digest of `{package_id, package_version, issued_at}` (local mode: with `authority`) |
//! | `local_receipt` | local mode only: the Studio-local receipt digest recomputes (see [`crate::local_receipt_payload`]) |
//! | `signature_algorithm` | `ed25519` |
//! | `key_advertised` | the signing key is among the registry's keys (a bundle's `registry_keys`) |
//! | `signature` | the Ed25519 signature verifies over the current payload or, for receipts issued before `package_execution_signature` existed, the legacy one (the reason says which) |
//! | `required_mode` | only with a required mode: the registry's signing mode; production never accepts upstream's public dev key, and offline needs a pinned key |
//! | `trusted_key_id` | only with a trusted key id: the receipt's key id equals it (offline: and its key is pinned, or it is upstream's dev key id) |
//! | `trusted_key` | only with pinned public keys: the signing key is pinned under its id |
//! | `lifecycle` | active; **warn** for superseded/deprecated (and yanked when allowed); yanked fails unless allowed; takedown always fails |
//!
//! Offline, a bundle carries its own `registry_keys` (and, when pulled by this crate, the
//! registry's signing mode): verifying it proves the bundle is intact and signed by *a* key
//! under the id it names, which anyone who edits a bundle can arrange. So offline, without
//! pinned keys ([`VerifyPolicy::trusted_keys`]), `trusted_key_id` and a required `production`
//! mode fail, naming the pin that would decide them; upstream's development key id is the
//! exception for `trusted_key_id`, as its one public key is built in, and a bundle that lists
//! another key under that id fails `key_advertised`. Production mode never accepts upstream's
//! development key, whatever a bundle or registry claims.
//!
//! Local mode ([`VerifyPolicy::local_receipt`]) is the offline check of a Studio-local
//! publication: its `sha256:` receipt is recomputed instead of a signature verified.
//! Otherwise a receipt without a registry signature (a `local-studio` export: empty, or a `sha256:`
//! digest anyone can compute) fails `signature`; the checks that need a signature are skipped.
//! [`VerificationReport::ok`] is true when no check failed: `warn` and `skip` do not fail.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use signing::digest::{package_execution_signature, ExecutionSignatureInput};
use signing::ed25519::{ALGORITHM, DEV_KEY_ID};
use signing::{
    digest_value, receipt_id, PayloadVersion, PublicKeySet, ReceiptPayload, RegistrySignature,
    SigningError, SigningKey, VerifyingKey,
};

use crate::bundle::{PackageBundle, BUNDLE_SCHEMA_VERSION};
use crate::local::{local_receipt_digest, local_receipt_id, LOCAL_STUDIO_AUTHORITY};
use crate::model::{Lifecycle, PackageRecord, PackageRef, Receipt, RegistryKeys};

/// A registry's signing mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningMode {
    /// Development: possibly upstream's publicly derivable key.
    Dev,
    /// Production: a private key the operator holds.
    Production,
}

impl SigningMode {
    /// `dev` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningMode::Dev => "dev",
            SigningMode::Production => "production",
        }
    }
}

impl fmt::Display for SigningMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" => Ok(SigningMode::Dev),
            "production" => Ok(SigningMode::Production),
            other => Err(format!(
                "unknown signing mode {other:?}: expected dev or production"
            )),
        }
    }
}

/// What the verifier must insist on beyond the always-on checks.
#[derive(Clone, Debug, Default)]
pub struct VerifyPolicy {
    /// Require this registry signing mode (`required_mode`).
    pub required_mode: Option<SigningMode>,
    /// Require the receipt to be signed by the key with this id (`trusted_key_id`).
    pub trusted_key_id: Option<String>,
    /// Require the signing key to be one of these, by id and public key (`trusted_key`).
    /// Offline, this is what makes a key id trustworthy: a bundle carries its own keys.
    pub trusted_keys: Option<PublicKeySet>,
    /// Accept a yanked package (for reproducing a pinned historical build); a warning.
    pub allow_yanked: bool,
    /// Fail, rather than warn, when a package has no execution signature (legacy packages).
    pub require_execution_signature: bool,
    /// The contract signature the package must carry (`contract_signature`): what the
    /// publisher compiled and meant to publish, e.g. the signature of the revision Studio sent.
    pub expected_contract_signature: Option<String>,
    /// Offline mode for Studio-local publications: accept a `local-studio` receipt whose
    /// `sha256:` digests recompute (`receipt_id`, `local_receipt`) in place of a registry
    /// signature, whose checks are then skipped. Such a receipt proves the package is intact as
    /// Studio recorded it, not who published it: `required_mode`, `trusted_key_id` and
    /// `trusted_key` still fail when asked for. A registry-signed receipt is verified as usual.
    pub local_receipt: bool,
}

/// The name of a check. Stable: scripts and tests match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// Package id and version agree everywhere they are stated.
    Identity,
    /// The receipt's publisher is the package's.
    Publisher,
    /// The manifest digest recomputes.
    ManifestDigest,
    /// The definition digest recomputes.
    DefinitionDigest,
    /// The lock digest recomputes.
    LockDigest,
    /// The package execution signature is present and recomputes.
    ExecutionSignature,
    /// A bundle's copies and digest summary match its package record.
    BundleContents,
    /// The record's contract signature is the expected one.
    ContractSignature,
    /// The receipt id recomputes.
    ReceiptId,
    /// Local mode: the Studio-local receipt digest recomputes.
    LocalReceipt,
    /// The receipt is signed with Ed25519.
    SignatureAlgorithm,
    /// The signing key is advertised by the registry.
    KeyAdvertised,
    /// The receipt signature is valid.
    Signature,
    /// The registry's signing mode is the required one.
    RequiredMode,
    /// The receipt's key id is the trusted one.
    TrustedKeyId,
    /// The signing key is one of the pinned public keys.
    TrustedKey,
    /// The package's lifecycle allows its use.
    Lifecycle,
}

impl CheckName {
    /// The name as text, e.g. `manifest_digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Identity => "identity",
            CheckName::Publisher => "publisher",
            CheckName::ManifestDigest => "manifest_digest",
            CheckName::DefinitionDigest => "definition_digest",
            CheckName::LockDigest => "lock_digest",
            CheckName::ExecutionSignature => "execution_signature",
            CheckName::BundleContents => "bundle_contents",
            CheckName::ContractSignature => "contract_signature",
            CheckName::ReceiptId => "receipt_id",
            CheckName::LocalReceipt => "local_receipt",
            CheckName::SignatureAlgorithm => "signature_algorithm",
            CheckName::KeyAdvertised => "key_advertised",
            CheckName::Signature => "signature",
            CheckName::RequiredMode => "required_mode",
            CheckName::TrustedKeyId => "trusted_key_id",
            CheckName::TrustedKey => "trusted_key",
            CheckName::Lifecycle => "lifecycle",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Verified.
    Pass,
    /// Acceptable, but the user should know (legacy package, deprecated, allowed yank).
    Warn,
    /// Not applicable (nothing to check without a registry signature).
    Skip,
    /// Not verified: the package must not be trusted.
    Fail,
}

impl CheckStatus {
    /// `PASS`, `WARN`, `SKIP` or `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Skip => "SKIP",
            CheckStatus::Fail => "FAIL",
        }
    }
}

/// One named check with its outcome and the reason for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// Its outcome.
    pub status: CheckStatus,
    /// Why, in a sentence a user can act on.
    pub reason: String,
}

impl Check {
    fn new(name: CheckName, status: CheckStatus, reason: impl Into<String>) -> Self {
        Check {
            name,
            status,
            reason: reason.into(),
        }
    }
    fn pass(name: CheckName, reason: impl Into<String>) -> Self {
        Check::new(name, CheckStatus::Pass, reason)
    }
    fn fail(name: CheckName, reason: impl Into<String>) -> Self {
        Check::new(name, CheckStatus::Fail, reason)
    }
    fn warn(name: CheckName, reason: impl Into<String>) -> Self {
        Check::new(name, CheckStatus::Warn, reason)
    }
    fn skip(name: CheckName, reason: impl Into<String>) -> Self {
        Check::new(name, CheckStatus::Skip, reason)
    }
}

/// `PASS  manifest_digest      reason`: the status label, the name padded to 20 columns and
/// the reason, as the CLI prints a check.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  {:<20} {}",
            self.status.label(),
            self.name.as_str(),
            self.reason
        )
    }
}

/// Every check that ran, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationReport {
    /// The package record's id.
    pub package_id: String,
    /// The package record's version.
    pub package_version: String,
    /// The id of the key that signed the receipt, when it names one.
    pub key_id: Option<String>,
    /// Which receipt payload the signature verified over, when it verified.
    pub signed_payload: Option<PayloadVersion>,
    /// The checks.
    pub checks: Vec<Check>,
}

impl VerificationReport {
    /// True when no check failed (warnings and skipped checks do not fail a package).
    pub fn ok(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.status != CheckStatus::Fail)
    }

    /// The check with this name, if it ran.
    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|check| check.status == CheckStatus::Fail)
    }

    /// How many checks warned.
    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|check| check.status == CheckStatus::Warn)
            .count()
    }

    fn push(&mut self, check: Check) {
        self.checks.push(check);
    }
}

impl Serialize for VerificationReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            package_id: &'a str,
            package_version: &'a str,
            ok: bool,
            key_id: Option<&'a str>,
            signed_payload: Option<&'static str>,
            checks: &'a [Check],
        }
        View {
            package_id: &self.package_id,
            package_version: &self.package_version,
            ok: self.ok(),
            key_id: self.key_id.as_deref(),
            signed_payload: self.signed_payload.map(|version| match version {
                PayloadVersion::Current => "current",
                PayloadVersion::Legacy => "legacy",
            }),
            checks: &self.checks,
        }
        .serialize(serializer)
    }
}

/// The report as the CLI prints it: `id@version`, a line per check (see [`Check`]'s `Display`),
/// then the verdict, `VERIFIED: no check failed (N warning(s))` or `NOT VERIFIED: a, b failed`.
/// No newline after the last line.
impl fmt::Display for VerificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}@{}", self.package_id, self.package_version)?;
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        let failures: Vec<&str> = self.failures().map(|check| check.name.as_str()).collect();
        if failures.is_empty() {
            write!(
                f,
                "VERIFIED: no check failed ({} warning(s))",
                self.warnings()
            )
        } else {
            write!(f, "NOT VERIFIED: {} failed", failures.join(", "))
        }
    }
}

/// What is verified: a package record, its receipt and what its registry advertises.
#[derive(Clone, Copy, Debug)]
pub struct VerificationInput<'a> {
    /// The package record (a download, or a bundle's `package`).
    pub package: &'a PackageRecord,
    /// Its receipt.
    pub receipt: &'a Receipt,
    /// The registry's keys and signing mode (`GET keys`, or what a bundle recorded).
    pub keys: &'a RegistryKeys,
    /// The package that was asked for, if any.
    pub requested: Option<&'a PackageRef>,
    /// The bundle the package came from, to check its copies too.
    pub bundle: Option<&'a PackageBundle>,
}

impl<'a> VerificationInput<'a> {
    /// The input for a bundle; `keys` is [`PackageBundle::registry_keys`].
    pub fn for_bundle(bundle: &'a PackageBundle, keys: &'a RegistryKeys) -> Self {
        VerificationInput {
            package: &bundle.package,
            receipt: &bundle.receipt,
            keys,
            requested: None,
            bundle: Some(bundle),
        }
    }

    fn keys_label(&self) -> &'static str {
        if self.bundle.is_some() {
            "the bundle's registry_keys"
        } else {
            "the registry's keys"
        }
    }
}

/// Verifies an offline bundle against the keys (and signing mode) it records.
pub fn verify_bundle(bundle: &PackageBundle, policy: &VerifyPolicy) -> VerificationReport {
    let keys = bundle.registry_keys();
    verify_package(&VerificationInput::for_bundle(bundle, &keys), policy)
}

/// Runs every check on `input` under `policy`.
pub fn verify_package(input: &VerificationInput<'_>, policy: &VerifyPolicy) -> VerificationReport {
    let package = input.package;
    let receipt_kind = ReceiptKind::of(input);
    let signature = SignatureFindings::new(input, &receipt_kind);
    let mut report = VerificationReport {
        package_id: package.package_id().to_owned(),
        package_version: package.package_version().to_owned(),
        key_id: signature.key_id.clone(),
        signed_payload: signature.verified.as_ref().ok().copied(),
        checks: Vec::new(),
    };

    report.push(identity(input, &receipt_kind));
    report.push(publisher(input, &receipt_kind));
    if let Some(expected) = policy.expected_contract_signature.as_deref() {
        report.push(contract_signature(package, expected));
    }
    for (name, member, recorded) in DIGESTED {
        report.push(digest_check(package, name, member, recorded));
    }
    report.push(execution_signature(package, policy, &signature));
    if let Some(bundle) = input.bundle {
        report.push(bundle_contents(bundle));
    }
    if policy.local_receipt && matches!(receipt_kind, ReceiptKind::LocalDigest { .. }) {
        report.push(local_receipt_id_check(input));
        report.push(local_receipt_check(input, &receipt_kind));
        for name in [
            CheckName::SignatureAlgorithm,
            CheckName::KeyAdvertised,
            CheckName::Signature,
        ] {
            report.push(Check::skip(name, LOCAL_MODE));
        }
    } else {
        report.push(receipt_id_check(input, &receipt_kind));
        report.push(signature.algorithm_check(input.receipt, &receipt_kind));
        report.push(signature.key_check(input, &receipt_kind));
        report.push(signature.signature_check(&receipt_kind));
    }
    // Offline, without pinned keys, the keys and the signing mode are what the bundle says of
    // itself: anyone who edits a bundle can re-sign it and list their own key.
    let offline_unpinned = input.bundle.is_some() && policy.trusted_keys.is_none();
    if let Some(mode) = policy.required_mode {
        report.push(required_mode(
            mode,
            input,
            &signature,
            &receipt_kind,
            offline_unpinned,
        ));
    }
    if let Some(trusted) = policy.trusted_key_id.as_deref() {
        report.push(trusted_key_id(trusted, offline_unpinned, &signature));
    }
    if let Some(pinned) = policy.trusted_keys.as_ref() {
        report.push(trusted_key(pinned, &signature));
    }
    report.push(lifecycle(package, policy, input.bundle.is_some()));
    report
}

/// What kind of receipt the package came with.
enum ReceiptKind {
    /// `registry_signature` is empty.
    Unsigned { authority: String },
    /// `registry_signature` is a `sha256:` digest (a local Studio export).
    LocalDigest { authority: String },
    /// Anything else is meant to be `ed25519:<key_id>:<base64>`.
    Registry,
}

impl ReceiptKind {
    fn of(input: &VerificationInput<'_>) -> Self {
        let receipt = input.receipt;
        let authority = [
            receipt.authority.as_str(),
            input
                .bundle
                .map(|b| b.authority.as_str())
                .unwrap_or_default(),
        ]
        .into_iter()
        .find(|a| !a.trim().is_empty())
        .unwrap_or("not stated")
        .to_owned();
        let signature = receipt.registry_signature.trim();
        if signature.is_empty() {
            ReceiptKind::Unsigned { authority }
        } else if signature.starts_with(signing::digest::SHA256_PREFIX) {
            ReceiptKind::LocalDigest { authority }
        } else {
            ReceiptKind::Registry
        }
    }

    fn is_registry(&self) -> bool {
        matches!(self, ReceiptKind::Registry)
    }

    /// Why there is nothing to verify, for a receipt that is not a registry receipt.
    fn unsigned_reason(&self) -> String {
        match self {
            ReceiptKind::Unsigned { authority } => format!(
                "no registry signature: the receipt's registry_signature is empty (authority \
                 {authority}), an unsigned local export that no registry vouches for"
            ),
            ReceiptKind::LocalDigest { authority } => format!(
                "no registry signature: the receipt's registry_signature is a sha256 digest \
                 (authority {authority}), which anyone can compute, so no registry vouches for \
                 this package"
            ),
            ReceiptKind::Registry => String::new(),
        }
    }
}

const NOT_SIGNED: &str = "not applicable: the receipt carries no registry signature";

const LOCAL_MODE: &str = "not applicable in local mode: a Studio-local receipt is a digest, not a \
                          registry signature";

/// Compares a contract signature without its optional `sha256:` prefix.
fn bare_signature(signature: &str) -> &str {
    let signature = signature.trim();
    signature
        .strip_prefix(signing::digest::SHA256_PREFIX)
        .unwrap_or(signature)
}

fn contract_signature(package: &PackageRecord, expected: &str) -> Check {
    const NAME: CheckName = CheckName::ContractSignature;
    let stored = package.str("contract_signature");
    if bare_signature(expected).is_empty() {
        return Check::fail(NAME, "the expected contract signature is empty");
    }
    if stored.trim().is_empty() {
        return Check::fail(
            NAME,
            format!("the package states no contract_signature, but {expected} is expected"),
        );
    }
    if bare_signature(stored) == bare_signature(expected) {
        Check::pass(
            NAME,
            format!("the package carries the expected contract signature {stored}"),
        )
    } else {
        Check::fail(
            NAME,
            format!("the package carries contract signature {stored}, not the expected {expected}"),
        )
    }
}

fn local_receipt_id_check(input: &VerificationInput<'_>) -> Check {
    const NAME: CheckName = CheckName::ReceiptId;
    let receipt = input.receipt;
    let package = input.package;
    let computed = local_receipt_id(
        &receipt.authority,
        package.package_id(),
        package.package_version(),
        &receipt.issued_at,
    );
    if receipt.receipt_id == computed {
        Check::pass(
            NAME,
            format!(
                "{computed} is the digest of authority {}, package_id, package_version and \
                 issued_at {}",
                receipt.authority, receipt.issued_at
            ),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "receipt_id is {:?} but authority {:?}, package_id, package_version and issued_at \
                 {:?} digest to {computed}",
                receipt.receipt_id, receipt.authority, receipt.issued_at
            ),
        )
    }
}

fn local_receipt_check(input: &VerificationInput<'_>, kind: &ReceiptKind) -> Check {
    const NAME: CheckName = CheckName::LocalReceipt;
    let receipt = input.receipt;
    if receipt.authority != LOCAL_STUDIO_AUTHORITY {
        let stated = match kind {
            ReceiptKind::LocalDigest { authority } | ReceiptKind::Unsigned { authority } => {
                authority.as_str()
            }
            ReceiptKind::Registry => "a registry",
        };
        return Check::fail(
            NAME,
            format!(
                "the receipt's authority is {stated}, not {LOCAL_STUDIO_AUTHORITY}: only Studio-local \
                 receipts are digests"
            ),
        );
    }
    let computed = local_receipt_digest(input.package, &receipt.authority, &receipt.issued_at);
    let stated = receipt.registry_signature.trim();
    if stated == computed {
        Check::pass(
            NAME,
            format!(
                "{computed} recomputes from the contract signature, the document digests, the \
                 execution signature, the lineage and issued_at; a digest proves integrity, not \
                 who published the package"
            ),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "the receipt's digest is {stated} but the package and issued_at give {computed}: \
                 the package or its receipt was changed after Studio recorded it"
            ),
        )
    }
}

fn str_member<'a>(value: Option<&'a Value>, name: &str) -> &'a str {
    value
        .and_then(|v| v.get(name))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Collects where two stated pairs agree or differ.
struct Agreement<'a> {
    expected: (&'a str, &'a str),
    agreeing: Vec<&'static str>,
    problems: Vec<String>,
}

impl<'a> Agreement<'a> {
    fn new(expected: (&'a str, &'a str)) -> Self {
        Agreement {
            expected,
            agreeing: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Compares what `source` states; a blank part is "not stated" unless `required`, in which
    /// case the source must state both parts exactly.
    fn compare(&mut self, source: &'static str, stated: (&str, &str), required: bool, sep: &str) {
        let blank = stated.0.is_empty() && stated.1.is_empty();
        if blank && !required {
            return;
        }
        let differs =
            |stated: &str, expected: &str| (required || !stated.is_empty()) && stated != expected;
        if differs(stated.0, self.expected.0) || differs(stated.1, self.expected.1) {
            self.problems.push(if blank {
                format!("the {source} states none")
            } else {
                format!("the {source} states {}{sep}{}", stated.0, stated.1)
            });
        } else {
            self.agreeing.push(source);
        }
    }

    fn sources(&self) -> String {
        if self.agreeing.is_empty() {
            "no other source states one".to_owned()
        } else {
            format!("agrees with the {}", self.agreeing.join(", "))
        }
    }
}

fn identity(input: &VerificationInput<'_>, kind: &ReceiptKind) -> Check {
    let package = input.package;
    let expected = (package.package_id(), package.package_version());
    if expected.0.is_empty() || expected.1.is_empty() {
        return Check::fail(
            CheckName::Identity,
            "the package record states no package_id or package_version",
        );
    }
    let mut agreement = Agreement::new(expected);
    if let Some(requested) = input.requested {
        let stated = (
            requested.package_id.as_str(),
            requested.package_version.as_str(),
        );
        agreement.compare("request", stated, true, "@");
    }
    let receipt = input.receipt;
    let stated = (
        receipt.package_id.as_str(),
        receipt.package_version.as_str(),
    );
    agreement.compare("receipt", stated, kind.is_registry(), "@");
    for (source, document) in [
        ("manifest", package.manifest()),
        ("lock", package.recommended_lock()),
        ("publication", input.bundle.map(|b| &b.publication)),
    ] {
        let stated = (
            str_member(document, "package_id"),
            str_member(document, "package_version"),
        );
        agreement.compare(source, stated, false, "@");
    }
    let name = format!("{}@{}", expected.0, expected.1);
    if agreement.problems.is_empty() {
        Check::pass(
            CheckName::Identity,
            format!("{name} {}", agreement.sources()),
        )
    } else {
        Check::fail(
            CheckName::Identity,
            format!(
                "the package is {name} but {}",
                agreement.problems.join("; ")
            ),
        )
    }
}

fn publisher(input: &VerificationInput<'_>, kind: &ReceiptKind) -> Check {
    let package = input.package;
    let expected = (package.publisher_type(), package.publisher_id());
    let receipt = input.receipt;
    let from_receipt = (
        receipt.publisher_type.as_str(),
        receipt.publisher_id.as_str(),
    );
    let mut agreement = Agreement::new(expected);
    // As upstream's client: a registry receipt must name exactly the record's publisher
    // whenever either of them names one.
    let stated_anywhere = !(expected.0.is_empty()
        && expected.1.is_empty()
        && from_receipt.0.is_empty()
        && from_receipt.1.is_empty());
    agreement.compare(
        "receipt",
        from_receipt,
        kind.is_registry() && stated_anywhere,
        "/",
    );
    let publication = input.bundle.map(|b| &b.publication);
    let stated = (
        str_member(publication, "publisher_type"),
        str_member(publication, "publisher_id"),
    );
    agreement.compare("publication", stated, false, "/");
    let name = if expected.0.is_empty() && expected.1.is_empty() {
        "no publisher".to_owned()
    } else {
        format!("publisher {}/{}", expected.0, expected.1)
    };
    if agreement.problems.is_empty() {
        Check::pass(
            CheckName::Publisher,
            format!("{name}; {}", agreement.sources()),
        )
    } else {
        Check::fail(
            CheckName::Publisher,
            format!(
                "the package names {name} but {}",
                agreement.problems.join("; ")
            ),
        )
    }
}

/// (check, record member, record field holding its digest)
const DIGESTED: [(CheckName, &str, &str); 3] = [
    (CheckName::ManifestDigest, "manifest", "manifest_digest"),
    (
        CheckName::DefinitionDigest,
        "service_definition",
        "definition_digest",
    ),
    (CheckName::LockDigest, "recommended_lock", "lock_digest"),
];

fn digest_check(package: &PackageRecord, name: CheckName, member: &str, recorded: &str) -> Check {
    let Some(document) = package.get(member).filter(|d| d.is_object()) else {
        return Check::fail(name, format!("the package record has no {member} object"));
    };
    let recorded_digest = package.str(recorded);
    if recorded_digest.is_empty() {
        return Check::fail(name, format!("the package record states no {recorded}"));
    }
    let computed = digest_value(document);
    if computed == recorded_digest {
        Check::pass(
            name,
            format!("{recorded} {computed} recomputes from {member}"),
        )
    } else {
        Check::fail(
            name,
            format!("{recorded} is {recorded_digest} but {member} digests to {computed}"),
        )
    }
}

fn execution_signature(
    package: &PackageRecord,
    policy: &VerifyPolicy,
    signature: &SignatureFindings,
) -> Check {
    const NAME: CheckName = CheckName::ExecutionSignature;
    const KEY: &str = "package_execution_signature";
    let stated: Vec<(&str, &str)> = [
        ("record", package.get(KEY)),
        ("manifest", package.manifest().and_then(|m| m.get(KEY))),
        ("lock", package.recommended_lock().and_then(|l| l.get(KEY))),
    ]
    .into_iter()
    .filter_map(|(source, value)| {
        value
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty())
            .map(|text| (source, text))
    })
    .collect();
    let legacy_receipt = matches!(signature.verified, Ok(PayloadVersion::Legacy));

    let Some(&(_, value)) = stated.first() else {
        if policy.require_execution_signature {
            return Check::fail(
                NAME,
                "the package has no package_execution_signature, and the policy requires one",
            );
        }
        let receipt_note = if legacy_receipt {
            " and its receipt signs the legacy payload"
        } else {
            ""
        };
        return Check::warn(
            NAME,
            format!(
                "absent: a legacy package published before package_execution_signature \
                 existed{receipt_note}; its content is still bound by the manifest, definition \
                 and lock digests"
            ),
        );
    };
    if stated.iter().any(|(_, other)| *other != value) {
        let listed: Vec<String> = stated
            .iter()
            .map(|(source, text)| format!("{source} {text}"))
            .collect();
        return Check::fail(
            NAME,
            format!("record, manifest and lock disagree: {}", listed.join(", ")),
        );
    }
    let null = Value::Null;
    let materials: &[Value] = package
        .get("implementation_materials")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let computed = package_execution_signature(&ExecutionSignatureInput {
        service_definition: package.service_definition().unwrap_or(&null),
        manifest: package.manifest().unwrap_or(&null),
        recommended_lock: package.recommended_lock().unwrap_or(&null),
        implementation_materials: materials,
        lineage: package.lineage(),
    });
    if computed != value {
        return Check::fail(
            NAME,
            format!(
                "package_execution_signature is {value} but the definition, manifest, lock, \
                 implementation materials and lineage give {computed}"
            ),
        );
    }
    let receipt_note = if legacy_receipt {
        "; the receipt signs the legacy payload, so it is bound through the manifest and lock \
         digests"
    } else {
        ""
    };
    Check::pass(
        NAME,
        format!(
            "{value} recomputes from the definition, manifest, lock, implementation materials \
             and lineage{receipt_note}"
        ),
    )
}

fn bundle_contents(bundle: &PackageBundle) -> Check {
    let package = &bundle.package;
    let mut problems = Vec::new();
    if bundle.bundle_schema_version != BUNDLE_SCHEMA_VERSION {
        problems.push(format!(
            "bundle_schema_version is {:?}, not {BUNDLE_SCHEMA_VERSION}",
            bundle.bundle_schema_version
        ));
    }
    // Upstream readers prefer the top-level copies to the record's: they must be the verified
    // documents, or a reader would run content no digest covers.
    let null = Value::Null;
    for (copy, top_level, member) in [
        (&bundle.manifest, "manifest", "manifest"),
        (
            &bundle.service_definition,
            "service_definition",
            "service_definition",
        ),
        (&bundle.lock, "lock", "recommended_lock"),
        (&bundle.lineage, "lineage", "lineage"),
    ] {
        if let Some(copy) = copy {
            if copy != package.get(member).unwrap_or(&null) {
                problems.push(format!(
                    "the top-level {top_level} differs from package.{member}"
                ));
            }
        }
    }
    let digests = &bundle.digests;
    for (summary, label, recorded) in [
        (&digests.manifest, "manifest", "manifest_digest"),
        (
            &digests.service_definition,
            "service_definition",
            "definition_digest",
        ),
        (&digests.lock, "lock", "lock_digest"),
    ] {
        if !summary.is_empty() && summary != package.str(recorded) {
            problems.push(format!(
                "digests.{label} is {summary} but package.{recorded} is {}",
                package.str(recorded)
            ));
        }
    }
    let receipt = &bundle.receipt;
    if !digests.receipt.is_empty()
        && digests.receipt != receipt.receipt_id
        && digests.receipt != receipt.registry_signature
    {
        problems.push(format!(
            "digests.receipt {} is neither the receipt's id nor its signature",
            digests.receipt
        ));
    }
    if problems.is_empty() {
        Check::pass(
            CheckName::BundleContents,
            "the top-level copies and the digests summary match the package record",
        )
    } else {
        Check::fail(CheckName::BundleContents, problems.join("; "))
    }
}

fn receipt_id_check(input: &VerificationInput<'_>, kind: &ReceiptKind) -> Check {
    const NAME: CheckName = CheckName::ReceiptId;
    let receipt = input.receipt;
    if receipt.receipt_id.is_empty() {
        return if kind.is_registry() {
            Check::fail(NAME, "the receipt has no receipt_id")
        } else {
            Check::skip(NAME, NOT_SIGNED)
        };
    }
    let package = input.package;
    let computed = receipt_id(
        package.package_id(),
        package.package_version(),
        &receipt.issued_at,
    );
    if computed == receipt.receipt_id {
        Check::pass(
            NAME,
            format!(
                "{computed} is the digest of package_id, package_version and issued_at {}",
                receipt.issued_at
            ),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "receipt_id is {} but package_id, package_version and issued_at {:?} digest to \
                 {computed}",
                receipt.receipt_id, receipt.issued_at
            ),
        )
    }
}

/// Where the key a signature was checked with came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeySource {
    /// Advertised by the registry (or recorded in the bundle).
    Advertised,
    /// Not advertised: upstream's dev key, which anyone can derive from its public seed text.
    PublicDevKey,
}

/// Everything learnt from the receipt's signature, shared by the signature-related checks.
struct SignatureFindings {
    /// The algorithm prefix of `registry_signature`.
    algorithm: String,
    /// The key id the signature names (else the receipt's `key_id`).
    key_id: Option<String>,
    /// The parsed signature, or why it does not parse.
    parsed: Result<RegistrySignature, SigningError>,
    /// The advertised key for `key_id`, or why there is none usable.
    advertised: Result<VerifyingKey, String>,
    /// The key the signature was checked with.
    key: Option<(VerifyingKey, KeySource)>,
    /// Which payload verified, or why none did.
    verified: Result<PayloadVersion, String>,
    /// Whether the signing key is upstream's publicly derivable dev key.
    dev_key: bool,
}

impl SignatureFindings {
    fn new(input: &VerificationInput<'_>, kind: &ReceiptKind) -> Self {
        let receipt = input.receipt;
        let text = receipt.registry_signature.trim();
        let mut parts = text.split(':');
        let algorithm = parts.next().unwrap_or_default().to_owned();
        let parsed = RegistrySignature::parse(text);
        let key_id = match &parsed {
            Ok(signature) => Some(signature.key_id.to_string()),
            Err(_) => parts.next().map(str::to_owned),
        }
        .or_else(|| Some(receipt.key_id.clone()))
        .filter(|id| !id.trim().is_empty() && kind.is_registry());

        let advertised = match key_id.as_deref().map(|id| input.keys.find(id)) {
            None => Err("the signature names no key id".to_owned()),
            Some(None) => Err(format!(
                "key {} is not among {}",
                key_id.as_deref().unwrap_or_default(),
                listed_keys(input)
            )),
            Some(Some(info)) if info.algorithm != ALGORITHM => Err(format!(
                "key {} is advertised with algorithm {:?}, not {ALGORITHM}",
                info.key_id, info.algorithm
            )),
            Some(Some(info)) => VerifyingKey::from_base64(&info.public_key).map_err(|err| {
                format!(
                    "key {} is advertised with a malformed public key: {err}",
                    info.key_id
                )
            }),
        };
        let dev_public = SigningKey::dev().verifying_key();
        // Upstream's development key id names one public key, which anyone can derive: a
        // different key listed under that id is a forgery, whoever lists it.
        let advertised = match advertised {
            Ok(key) if key_id.as_deref() == Some(DEV_KEY_ID) && key != dev_public => Err(format!(
                "key {DEV_KEY_ID} is upstream's public development key, but {} list a \
                 different public key under its id",
                input.keys_label()
            )),
            other => other,
        };
        let key = match (&advertised, key_id.as_deref()) {
            (Ok(key), _) => Some((*key, KeySource::Advertised)),
            (Err(_), Some(DEV_KEY_ID)) => Some((dev_public, KeySource::PublicDevKey)),
            (Err(_), _) => None,
        };
        let dev_key =
            key_id.as_deref() == Some(DEV_KEY_ID) || key.is_some_and(|(key, _)| key == dev_public);

        let verified = match (&parsed, key) {
            _ if !kind.is_registry() => Err(NOT_SIGNED.to_owned()),
            (Err(err), _) => Err(format!("malformed registry_signature: {err}")),
            (Ok(_), None) => Err(format!(
                "no public key for key {}, so the signature cannot be checked",
                key_id.as_deref().unwrap_or("(none)")
            )),
            (Ok(signature), Some((key, _))) => {
                let mut keys = PublicKeySet::new();
                let payload =
                    ReceiptPayload::from_package(input.package.as_value(), &receipt.issued_at);
                keys.insert(signature.key_id.clone(), key)
                    .and_then(|()| payload.verify(&keys, text))
                    .map_err(|err| match err {
                        SigningError::BadSignature => format!(
                            "invalid: the signature does not verify with key {} over the current \
                             or the legacy payload; the signature or a signed field (package id \
                             or version, contract signature, a digest, issued_at, publisher, \
                             lineage) was changed",
                            signature.key_id
                        ),
                        other => other.to_string(),
                    })
            }
        };
        SignatureFindings {
            algorithm,
            key_id,
            parsed,
            advertised,
            key,
            verified,
            dev_key,
        }
    }

    fn algorithm_check(&self, receipt: &Receipt, kind: &ReceiptKind) -> Check {
        const NAME: CheckName = CheckName::SignatureAlgorithm;
        if !kind.is_registry() {
            return Check::skip(NAME, NOT_SIGNED);
        }
        if self.algorithm != ALGORITHM {
            return Check::fail(
                NAME,
                format!(
                    "registry_signature uses {:?}, not {ALGORITHM}",
                    self.algorithm
                ),
            );
        }
        let stated = receipt.signature_algorithm.trim();
        if !stated.is_empty() && stated != ALGORITHM {
            return Check::fail(
                NAME,
                format!("the receipt's signature_algorithm is {stated:?}, not {ALGORITHM}"),
            );
        }
        Check::pass(NAME, ALGORITHM)
    }

    fn key_check(&self, input: &VerificationInput<'_>, kind: &ReceiptKind) -> Check {
        const NAME: CheckName = CheckName::KeyAdvertised;
        if !kind.is_registry() {
            return Check::skip(NAME, NOT_SIGNED);
        }
        let stated = input.receipt.key_id.trim();
        if let (Ok(signature), false) = (&self.parsed, stated.is_empty()) {
            if signature.key_id.as_str() != stated {
                return Check::fail(
                    NAME,
                    format!(
                        "the receipt's key_id is {stated} but its signature names {}",
                        signature.key_id
                    ),
                );
            }
        }
        match (&self.advertised, self.key_id.as_deref()) {
            (Ok(_), Some(id)) => {
                let active = if id == input.keys.active_key_id {
                    ", the active key"
                } else {
                    ""
                };
                Check::pass(
                    NAME,
                    format!("key {id} is advertised in {}{active}", input.keys_label()),
                )
            }
            (Err(reason), _) => Check::fail(NAME, reason.clone()),
            (Ok(_), None) => Check::fail(NAME, "the signature names no key id"),
        }
    }

    fn signature_check(&self, kind: &ReceiptKind) -> Check {
        const NAME: CheckName = CheckName::Signature;
        if !kind.is_registry() {
            return Check::fail(NAME, kind.unsigned_reason());
        }
        let key_id = self.key_id.as_deref().unwrap_or_default();
        let source = match self.key {
            Some((_, KeySource::PublicDevKey)) => {
                " (the key is not advertised: checked with upstream's public dev key, which \
                 anyone can derive)"
            }
            _ => "",
        };
        match &self.verified {
            Ok(PayloadVersion::Current) => Check::pass(
                NAME,
                format!(
                    "valid Ed25519 signature by key {key_id} over the current payload (with \
                     package_execution_signature){source}"
                ),
            ),
            Ok(PayloadVersion::Legacy) => Check::pass(
                NAME,
                format!(
                    "valid Ed25519 signature by key {key_id} over the legacy payload (without \
                     package_execution_signature, as receipts issued before it existed){source}"
                ),
            ),
            Err(reason) => Check::fail(NAME, reason.clone()),
        }
    }
}

fn listed_keys(input: &VerificationInput<'_>) -> String {
    let ids: Vec<&str> = input
        .keys
        .items
        .iter()
        .map(|key| key.key_id.as_str())
        .collect();
    if ids.is_empty() {
        format!("{}, which list no keys", input.keys_label())
    } else {
        format!("{} ({})", input.keys_label(), ids.join(", "))
    }
}

fn required_mode(
    required: SigningMode,
    input: &VerificationInput<'_>,
    signature: &SignatureFindings,
    kind: &ReceiptKind,
    offline_unpinned: bool,
) -> Check {
    const NAME: CheckName = CheckName::RequiredMode;
    if !kind.is_registry() {
        return Check::fail(
            NAME,
            format!("{required} mode required, but the receipt carries no registry signature"),
        );
    }
    if required == SigningMode::Production && signature.dev_key {
        return Check::fail(
            NAME,
            format!(
                "production mode required, but the receipt is signed with upstream's development \
                 key ({DEV_KEY_ID}), which anyone can derive from a public string"
            ),
        );
    }
    if required == SigningMode::Production && offline_unpinned {
        return Check::fail(
            NAME,
            format!(
                "production mode required, but offline the signing mode and the key are what \
                 the bundle records of itself; pin the registry's public key (trusted keys) to \
                 require production{PIN_HOW}"
            ),
        );
    }
    let whose = if input.bundle.is_some() {
        "the bundle records"
    } else {
        "the registry reports"
    };
    let observed = input.keys.signing_mode.trim().to_ascii_lowercase();
    if observed.is_empty() {
        if required == SigningMode::Dev && signature.dev_key {
            return Check::pass(
                NAME,
                format!(
                    "dev (inferred: {whose} no signing mode, and the receipt is signed with \
                     upstream's public dev key)"
                ),
            );
        }
        return Check::fail(
            NAME,
            format!("{required} mode required, but {whose} no signing mode"),
        );
    }
    if observed == required.as_str() {
        Check::pass(NAME, format!("{whose} signing mode {observed}"))
    } else {
        Check::fail(
            NAME,
            format!("{required} mode required, but {whose} signing mode {observed}"),
        )
    }
}

/// How to pin a key, for the reasons of the checks that need one.
const PIN_HOW: &str =
    " (anip package verify --trusted-key ID=BASE64, ANIP_RUNTIME_TRUSTED_REGISTRY_KEYS)";

fn trusted_key_id(trusted: &str, offline_unpinned: bool, signature: &SignatureFindings) -> Check {
    const NAME: CheckName = CheckName::TrustedKeyId;
    let trusted = trusted.trim();
    match signature.key_id.as_deref() {
        None => Check::fail(
            NAME,
            format!("key {trusted} is trusted, but the receipt names no signing key"),
        ),
        // Upstream's dev key id needs no pin: its one public key is built in (see
        // `SignatureFindings::new`).
        Some(id) if id == trusted && offline_unpinned && id != DEV_KEY_ID => Check::fail(
            NAME,
            format!(
                "the receipt names key {id}, but offline the public key under that id is what \
                 the bundle records of itself; pin it (trusted keys) to trust it{PIN_HOW}"
            ),
        ),
        Some(id) if id == trusted => Check::pass(
            NAME,
            format!("the receipt is signed by the trusted key {id}"),
        ),
        Some(id) => Check::fail(
            NAME,
            format!("the receipt is signed by key {id}, not by the trusted key {trusted}"),
        ),
    }
}

fn trusted_key(pinned: &PublicKeySet, signature: &SignatureFindings) -> Check {
    const NAME: CheckName = CheckName::TrustedKey;
    let Some(id) = signature.key_id.as_deref() else {
        return Check::fail(NAME, "the receipt names no signing key");
    };
    let Some(expected) = pinned.get(id) else {
        let ids: Vec<&str> = pinned.iter().map(|(id, _)| id.as_str()).collect();
        return Check::fail(
            NAME,
            format!("key {id} is not among the pinned keys ({})", ids.join(", ")),
        );
    };
    match signature.key {
        Some((key, _)) if key == expected => {
            Check::pass(NAME, format!("key {id} is the pinned public key"))
        }
        Some(_) => Check::fail(
            NAME,
            format!("the public key under id {id} is not the pinned one"),
        ),
        None => Check::fail(NAME, format!("no public key for key {id} to compare")),
    }
}

fn lifecycle(package: &PackageRecord, policy: &VerifyPolicy, from_bundle: bool) -> Check {
    const NAME: CheckName = CheckName::Lifecycle;
    let lifecycle = match package.get("lifecycle") {
        None | Some(Value::Null) => {
            return Check::pass(NAME, "no lifecycle recorded; treated as active");
        }
        Some(value) => match serde_json::from_value::<Lifecycle>(value.clone()) {
            Ok(lifecycle) => lifecycle,
            Err(err) => return Check::fail(NAME, format!("malformed lifecycle: {err}")),
        },
    };
    let status = lifecycle.status.trim().to_ascii_lowercase();
    let mut detail = String::new();
    if !lifecycle.reason.trim().is_empty() {
        detail.push_str(&format!(": {}", lifecycle.reason.trim()));
    }
    if let Some(replacement) = lifecycle
        .replacement
        .as_ref()
        .filter(|r| !r.package_id.is_empty())
    {
        detail.push_str(&format!(
            "; use {}@{} instead",
            replacement.package_id, replacement.package_version
        ));
    }
    if from_bundle {
        detail.push_str(" (as recorded in the bundle; the registry may have changed it since)");
    }
    match status.as_str() {
        "" | "active" => Check::pass(NAME, format!("active{detail}")),
        "superseded" | "deprecated" => Check::warn(NAME, format!("{status}{detail}")),
        "yanked" if policy.allow_yanked => Check::warn(
            NAME,
            format!("yanked{detail}; allowed by policy, for reproducing a pinned build only"),
        ),
        "yanked" => Check::fail(
            NAME,
            format!("yanked{detail}; allowed only when the policy allows yanked packages"),
        ),
        "takedown" => Check::fail(NAME, format!("taken down{detail}; never usable")),
        other => Check::fail(NAME, format!("unknown lifecycle status {other:?}{detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_prints_as_one_aligned_line() {
        assert_eq!(
            Check::pass(CheckName::ManifestDigest, "sha256:ab recomputes").to_string(),
            "PASS  manifest_digest      sha256:ab recomputes"
        );
        assert_eq!(
            Check::warn(CheckName::Lifecycle, "deprecated").to_string(),
            "WARN  lifecycle            deprecated"
        );
    }

    #[test]
    fn a_report_prints_its_checks_and_verdict() {
        let cases = [
            (
                vec![
                    Check::pass(CheckName::Identity, "acme.flights@1.2.0"),
                    Check::warn(CheckName::ExecutionSignature, "absent (legacy package)"),
                    Check::skip(CheckName::TrustedKey, "no pinned keys"),
                ],
                "acme.flights@1.2.0\n\
                 PASS  identity             acme.flights@1.2.0\n\
                 WARN  execution_signature  absent (legacy package)\n\
                 SKIP  trusted_key          no pinned keys\n\
                 VERIFIED: no check failed (1 warning(s))",
            ),
            (
                vec![
                    Check::fail(CheckName::Signature, "does not verify"),
                    Check::pass(CheckName::KeyAdvertised, "advertised"),
                    Check::fail(CheckName::Lifecycle, "taken down; never usable"),
                ],
                "acme.flights@1.2.0\n\
                 FAIL  signature            does not verify\n\
                 PASS  key_advertised       advertised\n\
                 FAIL  lifecycle            taken down; never usable\n\
                 NOT VERIFIED: signature, lifecycle failed",
            ),
        ];
        for (checks, printed) in cases {
            let report = VerificationReport {
                package_id: "acme.flights".into(),
                package_version: "1.2.0".into(),
                key_id: None,
                signed_payload: None,
                checks,
            };
            assert_eq!(report.to_string(), printed);
        }
    }
}
