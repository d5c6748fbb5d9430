//! Client-side verification of an RFC 6962 inclusion proof, written from the protocol text
//! (leaf `SHA-256(0x00 ‖ entry)`, node `SHA-256(0x01 ‖ left ‖ right)`) rather than shared with
//! the runtime, so the suite checks the runtime instead of agreeing with it by construction.

use signing::digest::{hex, sha256};

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(0x00);
    input.extend_from_slice(data);
    sha256(&input)
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut input = Vec::with_capacity(65);
    input.push(0x01);
    input.extend_from_slice(left);
    input.extend_from_slice(right);
    sha256(&input)
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.strip_prefix("sha256:").unwrap_or(text);
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Folds `leaf_data` with the path's siblings (`(hash, side)`, side `left` or `right`) and
/// returns the root as `sha256:<hex>`, or `None` when the path is malformed.
pub(crate) fn inclusion_root(leaf_data: &[u8], path: &[(String, String)]) -> Option<String> {
    let mut current = leaf_hash(leaf_data);
    for (hash, side) in path {
        let sibling = parse_hash(hash)?;
        current = match side.as_str() {
            "left" => node_hash(&sibling, &current),
            "right" => node_hash(&current, &sibling),
            _ => return None,
        };
    }
    Some(format!("sha256:{}", hex(&current)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_leaf_tree_folds_to_its_root() {
        let (a, b) = (b"a".as_slice(), b"b".as_slice());
        let root = node_hash(&leaf_hash(a), &leaf_hash(b));
        let expected = format!("sha256:{}", hex(&root));
        let path = vec![(hex(&leaf_hash(b)), "right".to_owned())];
        assert_eq!(inclusion_root(a, &path), Some(expected.clone()));
        let path = vec![(hex(&leaf_hash(a)), "left".to_owned())];
        assert_eq!(inclusion_root(b, &path), Some(expected.clone()));
        assert_ne!(inclusion_root(b"c", &path), Some(expected));
        assert_eq!(inclusion_root(a, &[("zz".into(), "left".into())]), None);
    }
}
