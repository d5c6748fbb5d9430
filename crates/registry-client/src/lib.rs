//! The client side of the ANIP Registry API v1, and the one package verifier.
//!
//! * [`RegistryClient`]: every public route (keys, publications, packages, downloads, locks,
//!   receipts, templates), publishing with a token, and the admin lifecycle change. Ids that
//!   contain `/` travel as one `%2F`-encoded path segment. Errors carry the HTTP status and the
//!   registry's `{"error": ...}` message ([`RegistryError`]).
//! * [`verify_package`] / [`verify_bundle`]: plain functions over data that run every check of
//!   the contract's "A client verifies" and return a [`VerificationReport`] of named checks.
//!   Digests and signatures come only from the `signing` crate.
//! * [`PackageBundle`]: the portable `anip-package-bundle/v1` file, read and written.
//! * [`fetch_and_verify`]: download, receipt and keys from a registry, as a verified bundle.
//! * [`read_file_limited`]: the one bounded reader of local files (bundles, publish requests).
//! * [`hygiene`]: the one rule set for what published metadata must never carry (local
//!   filesystem paths, secrets), shared by the Registry, Studio and the release gate.
//! * [`redact_url`]: a URL as errors may show it (no userinfo, no query). The client never
//!   follows redirects, and replaces its token in any text a Registry sends back.
//!
//! Architecture Invariant: nothing here hashes or signs by itself; there is no second canonical
//! encoder and no second signature verifier. Verification performs no I/O.

#![warn(missing_docs)]

mod bundle;
mod client;
mod error;
mod fetch;
mod file;
pub mod hygiene;
mod local;
mod model;
mod redact;
mod verify;

pub use bundle::{BundleDigests, PackageBundle, BUNDLE_SCHEMA_VERSION, REMOTE_REGISTRY_AUTHORITY};
pub use client::{
    api_base_url, RegistryClient, RegistryClientBuilder, API_PREFIX, DEFAULT_MAX_RESPONSE_BYTES,
};
pub use error::RegistryError;
pub use fetch::fetch_and_verify;
pub use file::{read_file_limited, DEFAULT_MAX_FILE_BYTES};
pub use local::{
    local_lineage, local_receipt_digest, local_receipt_id, local_receipt_payload,
    stated_execution_signature, LOCAL_STUDIO_AUTHORITY,
};
pub use model::{
    Lifecycle, LifecycleReplacement, LifecycleUpdate, ListQuery, PackageLock, PackageRecord,
    PackageRef, PublicationList, PublicationSummary, PublishResponse, Receipt, RegistryKeys,
    TemplateList, TemplateSummary,
};
pub use redact::{redact_secret_in_json, redact_secret_in_text, redact_url, REDACTED};
pub use verify::{
    verify_bundle, verify_package, Check, CheckName, CheckStatus, SigningMode, VerificationInput,
    VerificationReport, VerifyPolicy,
};
