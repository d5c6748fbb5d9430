//! Fetching a package from a Registry and verifying it: the one path the CLI, Studio and the
//! runtime use to turn `ID@VERSION` into a trusted bundle.

use crate::bundle::PackageBundle;
use crate::client::RegistryClient;
use crate::model::PackageRef;
use crate::verify::{verify_package, VerificationInput, VerificationReport, VerifyPolicy};
use crate::RegistryError;

/// Downloads `package_id@version`, its receipt and the registry's keys (concurrently), makes a
/// `remote-registry` bundle of them and verifies it under `policy`.
///
/// The download always asks for yanked packages too, so that a yanked package produces a
/// report whose `lifecycle` check fails (or warns, when the policy allows yanked packages)
/// instead of a bare HTTP 410. A taken down package is refused by the registry whatever is
/// asked: that is an error with status 410 carrying the lifecycle
/// ([`RegistryError::lifecycle`]).
///
/// The caller decides what to do with an untrusted package: the bundle is returned either way,
/// and must not be used unless [`VerificationReport::ok`].
pub async fn fetch_and_verify(
    client: &RegistryClient,
    package_id: &str,
    version: &str,
    policy: &VerifyPolicy,
) -> Result<(PackageBundle, VerificationReport), RegistryError> {
    let requested = PackageRef::new(package_id, version);
    let (package, receipt, keys) = futures_util::future::try_join3(
        client.download(package_id, version, true),
        client.receipt(package_id, version),
        client.keys(),
    )
    .await?;
    let bundle = PackageBundle::from_registry(client.api_base(), package, receipt, keys);
    let keys = bundle.registry_keys();
    // Verified as what the Registry answered, not as a bundle: its keys and signing mode come
    // from the Registry just now (trusted as its URL is), not from a file that says them of
    // itself, and the bundle made of them has no copies to compare.
    let input = VerificationInput {
        package: &bundle.package,
        receipt: &bundle.receipt,
        keys: &keys,
        requested: Some(&requested),
        bundle: None,
    };
    let report = verify_package(&input, policy);
    Ok((bundle, report))
}
