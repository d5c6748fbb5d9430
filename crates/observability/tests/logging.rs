//! `logging::init` installs once and is safe to call again.

#[test]
fn init_twice_does_not_panic() {
    let first = observability::logging::init("obs-test");
    let second = observability::logging::init("obs-test");
    assert!(
        first,
        "the first call in this process installs the subscriber"
    );
    assert!(!second, "the second call is a no-op");
    tracing::info!(event = "after_init", "still logging");
}
