//! Loopback ports for servers started a moment later: the private Postgres clusters, and the
//! services that tests, benchmarks and `cargo xtask up` start.
//!
//! A port is found free by binding it, and is then released for the server to take, so someone
//! else could take it in between. Asking the kernel for port 0 makes that likely enough to see:
//! such a port comes from the ephemeral range, the same range the kernel draws from for the
//! source port of every outgoing connection, and a test process opens many. [`free_port`]
//! therefore chooses below that range (or above it, when there is more room there), where the
//! kernel never hands out a port by itself, and walks the range in turn, so one process chooses a
//! port again only after going round all of them (about 22,000 by default). Only another process
//! choosing ports the same way, at the same moment, could still take it; each process starts at a
//! random place in the range.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::StoreError;

/// The lowest port chosen: above the registered ports most often in use on a developer machine.
const LOWEST: u32 = 10_000;

/// The kernel's ephemeral range, when it cannot be read.
const EPHEMERAL_DEFAULT: (u32, u32) = (32_768, 60_999);

/// A TCP port on 127.0.0.1 that is free now, outside the kernel's ephemeral range, and not
/// returned by this process since it last went round the range.
pub fn free_port() -> Result<u16, StoreError> {
    let (first, span) = *range();
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(random_start(span)));
    if let Some(port) = first_free(first, span, next) {
        return Ok(port);
    }
    // Every port outside the ephemeral range is taken: fall back to the kernel's choice.
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(StoreError::io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(StoreError::io("finding a free port"))?
        .port())
}

/// The first port of `first..first + span` that can be bound, trying them in turn from `next`
/// (which moves past every port tried).
fn first_free(first: u32, span: u32, next: &AtomicU32) -> Option<u16> {
    (0..span).find_map(|_| {
        let port = u16::try_from(first + next.fetch_add(1, Ordering::Relaxed) % span).ok()?;
        TcpListener::bind(("127.0.0.1", port)).ok().map(|_| port)
    })
}

/// The ports [`free_port`] chooses from: `(first, how many)`. Below the ephemeral range when
/// there is room there (the usual case), otherwise above it.
fn range() -> &'static (u32, u32) {
    static RANGE: OnceLock<(u32, u32)> = OnceLock::new();
    RANGE.get_or_init(|| {
        let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| parse_range(&text))
            .unwrap_or(EPHEMERAL_DEFAULT);
        choose_range(low, high)
    })
}

/// `ip_local_port_range`'s two numbers.
fn parse_range(text: &str) -> Option<(u32, u32)> {
    let mut numbers = text.split_whitespace().map(|n| n.parse::<u32>().ok());
    match (numbers.next()??, numbers.next()??) {
        (low, high) if low <= high => Some((low, high)),
        _ => None,
    }
}

fn choose_range(low: u32, high: u32) -> (u32, u32) {
    let below = low.saturating_sub(LOWEST);
    let above = 65_535u32.saturating_sub(high.max(LOWEST));
    if below >= above && below > 0 {
        (LOWEST, below)
    } else if above > 0 {
        (high.max(LOWEST) + 1, above)
    } else {
        // The ephemeral range covers everything: nothing better than the kernel's choice.
        (LOWEST, 65_535 - LOWEST + 1)
    }
}

/// A starting offset in `0..span` that differs between processes started together (std seeds
/// every `RandomState` randomly per process).
fn random_start(span: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    (hasher.finish() % u64::from(span.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_outside_the_ephemeral_range_and_never_repeat() {
        let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| parse_range(&text))
            .unwrap_or(EPHEMERAL_DEFAULT);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let port = u32::from(free_port().unwrap());
            assert!(
                !(low..=high).contains(&port),
                "{port} is in the ephemeral range {low}-{high}"
            );
            assert!(seen.insert(port), "{port} returned twice");
            // Free when returned.
            TcpListener::bind(("127.0.0.1", port as u16)).unwrap();
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        // A port from the kernel's range, so that the walk below does not cross the ports that
        // the other tests here take from free_port and bind for a moment.
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = u32::from(held.local_addr().unwrap().port());
        // Start the walk at the port held: a later one is chosen. Not necessarily the next:
        // another process may hold that one for a moment.
        let next = AtomicU32::new(0);
        let chosen = u32::from(first_free(taken, 64, &next).expect("a free port among 64"));
        assert!(
            (taken + 1..taken + 64).contains(&chosen),
            "{chosen} after {taken}"
        );
        // The walk moved past every port it tried, and no further.
        assert_eq!(next.load(Ordering::Relaxed), chosen - taken + 1);
    }

    #[test]
    fn the_range_is_below_the_ephemeral_range_when_there_is_room() {
        assert_eq!(choose_range(32_768, 60_999), (10_000, 22_768));
        // A low ephemeral range leaves more room above it.
        assert_eq!(choose_range(1_024, 4_999), (10_001, 55_535));
        assert_eq!(choose_range(1_024, 65_535), (10_000, 55_536));
        assert_eq!(parse_range("32768\t60999\n"), Some((32_768, 60_999)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range(""), None);
    }
}
