//! RFC 6962 Merkle trees over audit entries: roots, inclusion proofs and consistency proofs,
//! and their verification.
//!
//! Leaf hash `SHA-256(0x00 || data)`, node hash `SHA-256(0x01 || left || right)`, split at the
//! largest power of two below `n`, empty root `SHA-256("")`. Roots are written
//! `sha256:<hex>`; inclusion path hashes are bare hex (as the reference runtime and its
//! verifier read them); consistency path entries are `sha256:<hex>`.

use signing::digest::{hex, sha256};

/// A 32-byte node.
pub type Hash = [u8; 32];

/// The hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(0x00);
    input.extend_from_slice(data);
    sha256(&input)
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 65];
    input[0] = 0x01;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    sha256(&input)
}

/// `sha256:<hex>`.
pub fn format_root(hash: &Hash) -> String {
    format!("sha256:{}", hex(hash))
}

fn parse_hex(text: &str) -> Option<Hash> {
    let text = text.strip_prefix("sha256:").unwrap_or(text);
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Which side a sibling is on in an inclusion path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// A tree over leaf hashes.
pub struct MerkleTree {
    leaves: Vec<Hash>,
}

impl MerkleTree {
    /// A tree over the given leaf data, in order.
    pub fn from_data<'a>(data: impl IntoIterator<Item = &'a [u8]>) -> Self {
        MerkleTree {
            leaves: data.into_iter().map(leaf_hash).collect(),
        }
    }

    /// A tree over already hashed leaves (as stored beside each audit entry).
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        MerkleTree { leaves }
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The root of the first `size` leaves (RFC 6962 MTH).
    pub fn root_of(&self, size: usize) -> Hash {
        if size == 0 {
            return sha256(b"");
        }
        self.subtree(0, size.min(self.leaves.len()))
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_of(self.leaves.len())
    }

    fn subtree(&self, lo: usize, hi: usize) -> Hash {
        let n = hi - lo;
        if n == 1 {
            return self.leaves[lo];
        }
        let k = split_point(n);
        node_hash(&self.subtree(lo, lo + k), &self.subtree(lo + k, hi))
    }

    /// The audit path for leaf `index`, leaf to root. `None` when out of range.
    pub fn inclusion_proof(&self, index: usize) -> Option<Vec<(Hash, Side)>> {
        if index >= self.leaves.len() {
            return None;
        }
        let mut path = Vec::new();
        self.inclusion_path(index, 0, self.leaves.len(), &mut path);
        Some(path)
    }

    fn inclusion_path(&self, index: usize, lo: usize, hi: usize, path: &mut Vec<(Hash, Side)>) {
        let n = hi - lo;
        if n == 1 {
            return;
        }
        let k = split_point(n);
        if index - lo < k {
            self.inclusion_path(index, lo, lo + k, path);
            path.push((self.subtree(lo + k, hi), Side::Right));
        } else {
            self.inclusion_path(index, lo + k, hi, path);
            path.push((self.subtree(lo, lo + k), Side::Left));
        }
    }

    /// The RFC 6962 §2.1.2 consistency proof from the first `old_size` leaves to the whole
    /// tree. `None` when `old_size` exceeds the tree.
    pub fn consistency_proof(&self, old_size: usize) -> Option<Vec<Hash>> {
        let n = self.leaves.len();
        if old_size > n {
            return None;
        }
        if old_size == 0 || old_size == n {
            return Some(Vec::new());
        }
        let mut proof = Vec::new();
        self.subproof(old_size, 0, n, true, &mut proof);
        Some(proof)
    }

    fn subproof(&self, m: usize, lo: usize, hi: usize, start: bool, proof: &mut Vec<Hash>) {
        let n = hi - lo;
        if m == n {
            if !start {
                proof.push(self.subtree(lo, hi));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, lo, lo + k, start, proof);
            proof.push(self.subtree(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, proof);
            proof.push(self.subtree(lo, lo + k));
        }
    }
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first (one per set bit
/// of the leaf count). Enough to append leaves and compute the RFC 6962 root without the
/// earlier leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    /// Rebuilds a frontier from its stored parts; `None` if the number of roots does not match
    /// the size.
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Option<Self> {
        (roots.len() == size.count_ones() as usize).then_some(Frontier { size, roots })
    }

    /// The stored parts: the roots as hex.
    pub fn roots_hex(&self) -> Vec<String> {
        self.roots.iter().map(|h| hex(h)).collect()
    }

    /// Parses hex roots.
    pub fn parse_roots(roots: &[String]) -> Option<Vec<Hash>> {
        roots.iter().map(|r| parse_hex(r)).collect()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.roots.push(leaf);
        self.size += 1;
        for _ in 0..self.size.trailing_zeros() {
            let (Some(right), Some(left)) = (self.roots.pop(), self.roots.pop()) else {
                return;
            };
            self.roots.push(node_hash(&left, &right));
        }
    }

    /// The RFC 6962 root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.roots.iter().rev();
        let Some(last) = iter.next() else {
            return sha256(b"");
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Verifies an inclusion path: `leaf_data` folded with the siblings gives `root`.
pub fn verify_inclusion(leaf_data: &[u8], path: &[(String, String)], root: &str) -> bool {
    let mut current = leaf_hash(leaf_data);
    for (hash, side) in path {
        let Some(sibling) = parse_hex(hash) else {
            return false;
        };
        current = match side.as_str() {
            "left" => node_hash(&sibling, &current),
            "right" => node_hash(&current, &sibling),
            _ => return false,
        };
    }
    Some(current) == parse_hex(root)
}

/// Verifies a consistency proof between two roots (RFC 9162 §2.1.4.2 algorithm).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &str,
    new_root: &str,
    proof: &[String],
) -> bool {
    let (Some(old_root), Some(new_root)) = (parse_hex(old_root), parse_hex(new_root)) else {
        return false;
    };
    if old_size == 0 {
        return true;
    }
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = match proof
        .iter()
        .map(|p| parse_hex(p))
        .collect::<Option<Vec<_>>>()
    {
        Some(path) => path,
        None => return false,
    };
    // When old_size is a power of two the old root itself starts the path.
    if old_size.is_power_of_two() {
        path.insert(0, old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == old_root && sr == new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: usize) -> (MerkleTree, Vec<Vec<u8>>) {
        let data: Vec<Vec<u8>> = (0..n).map(|i| format!("entry-{i}").into_bytes()).collect();
        (MerkleTree::from_data(data.iter().map(Vec::as_slice)), data)
    }

    #[test]
    fn the_frontier_root_equals_the_tree_root() {
        let mut frontier = Frontier::default();
        for n in 1..=40usize {
            let (tree, data) = tree(n);
            frontier.push(leaf_hash(&data[n - 1]));
            assert_eq!(frontier.root(), tree.root(), "n={n}");
            let rebuilt = Frontier::from_parts(
                frontier.size(),
                Frontier::parse_roots(&frontier.roots_hex()).unwrap(),
            )
            .unwrap();
            assert_eq!(rebuilt, frontier);
        }
    }

    #[test]
    fn known_roots() {
        // RFC 6962 empty tree and single leaf.
        assert_eq!(
            format_root(&MerkleTree::from_data(std::iter::empty()).root()),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let (one, data) = tree(1);
        assert_eq!(one.root(), leaf_hash(&data[0]));
        let (three, data) = tree(3);
        let expected = node_hash(
            &node_hash(&leaf_hash(&data[0]), &leaf_hash(&data[1])),
            &leaf_hash(&data[2]),
        );
        assert_eq!(three.root(), expected);
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_leaf_does_not() {
        for n in 1..=17 {
            let (tree, data) = tree(n);
            let root = format_root(&tree.root());
            for (i, leaf) in data.iter().enumerate() {
                let path: Vec<(String, String)> = tree
                    .inclusion_proof(i)
                    .unwrap()
                    .iter()
                    .map(|(h, s)| (hex(h), s.as_str().to_owned()))
                    .collect();
                assert!(verify_inclusion(leaf, &path, &root), "n={n} i={i}");
                assert!(!verify_inclusion(b"other", &path, &root));
            }
            assert!(tree.inclusion_proof(n).is_none());
        }
    }

    #[test]
    fn every_consistency_proof_verifies() {
        for n in 1..=17usize {
            let (tree, _) = tree(n);
            let new_root = format_root(&tree.root());
            for m in 1..=n {
                let old_root = format_root(&tree.root_of(m));
                let proof: Vec<String> = tree
                    .consistency_proof(m)
                    .unwrap()
                    .iter()
                    .map(format_root)
                    .collect();
                assert!(
                    verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof),
                    "m={m} n={n}"
                );
                if m < n {
                    let wrong = format_root(&leaf_hash(b"x"));
                    assert!(
                        !verify_consistency(m as u64, n as u64, &wrong, &new_root, &proof),
                        "m={m} n={n}"
                    );
                }
            }
        }
    }
}
