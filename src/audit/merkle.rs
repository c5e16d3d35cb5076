//! RFC 6962 / RFC 9162 Merkle trees over the audit log: leaf and node hashes, roots, inclusion
//! and consistency proofs and their verification, and the compact range ("frontier") that lets a
//! verifier stream a log in constant memory.
//!
//! The leaf for record i is RFC 6962's leaf hash of the 32 raw bytes of its `record_hash`:
//! `SHA-256(0x00 || hex_decode(record_hash))` (RFC 6962 §2.1; leaf data = the digest bytes, not
//! the hex text and not the record line).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256 of the empty string: the root of the empty tree (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongProofLength,
    #[error("computed root {computed} does not match expected root {expected}")]
    RootMismatch { expected: String, computed: String },
}

fn largest_power_of_two_below(n: usize) -> usize {
    // k < n <= 2k, n > 1.
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes (RFC 6962 §2.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]) (RFC 6962 §2.1.1): the audit path for leaf `index`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            path(m, &leaves[..k], out);
            out.push(root(&leaves[k..]));
        } else {
            path(m - k, &leaves[k..], out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    path(index as usize, leaves, &mut out);
    Ok(out)
}

/// Root implied by an audit path (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    Ok(r)
}

/// Check an inclusion proof against a known root.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    expected: &Hash,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if &computed != expected {
        return Err(MerkleError::RootMismatch {
            expected: hex::encode(expected),
            computed: hex::encode(computed),
        });
    }
    Ok(())
}

/// PROOF(m, D[n]) (RFC 6962 §2.1.2): proof that the first `old_size` leaves are a prefix.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(MerkleError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(root(leaves));
            }
            return;
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            subproof(m, &leaves[..k], complete, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    if old_size > 0 {
        subproof(old_size as usize, leaves, true, &mut out);
    }
    Ok(out)
}

/// Verify a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    let mismatch = |expected: &Hash, computed: &Hash| MerkleError::RootMismatch {
        expected: hex::encode(expected),
        computed: hex::encode(computed),
    };
    if old_size > new_size {
        return Err(MerkleError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(mismatch(old_root, new_root))
        };
    }
    if old_size == 0 {
        // Every tree extends the empty tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(MerkleError::WrongProofLength)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::WrongProofLength);
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    if &fr != old_root {
        return Err(mismatch(old_root, &fr));
    }
    if &sr != new_root {
        return Err(mismatch(new_root, &sr));
    }
    Ok(())
}

/// The roots of the perfect subtrees covering leaves `0..size`, left to right (largest first):
/// enough to extend the tree and compute its root without the leaves (constant memory: at most
/// 64 hashes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuild from stored parts; the number of hashes must equal the popcount of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Frontier> {
        (hashes.len() as u32 == size.count_ones()).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    pub fn push(&mut self, leaf: Hash) {
        self.hashes.push(leaf);
        self.size += 1;
        let mut merged = self.size;
        while merged & 1 == 0 {
            let (Some(right), Some(left)) = (self.hashes.pop(), self.hashes.pop()) else {
                unreachable!("a frontier holds one hash per set bit of its size");
            };
            self.hashes.push(node_hash(&left, &right));
            merged >>= 1;
        }
    }

    /// MTH of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn frontier_root_matches_recursive_root() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root(&all[..=i]), "size {}", i + 1);
            assert_eq!(frontier.hashes().len() as u32, (i as u64 + 1).count_ones());
        }
    }

    #[test]
    fn inclusion_round_trip_and_tamper() {
        for n in 1..40usize {
            let all = leaves(n);
            let tree_root = root(&all);
            for i in 0..n as u64 {
                let proof = inclusion_proof(&all, i).unwrap();
                verify_inclusion(i, n as u64, &all[i as usize], &proof, &tree_root).unwrap();
                let wrong = leaf_hash(b"other");
                assert!(verify_inclusion(i, n as u64, &wrong, &proof, &tree_root).is_err());
                if n > 1 {
                    let mut bent = proof.clone();
                    bent[0][0] ^= 1;
                    assert!(
                        verify_inclusion(i, n as u64, &all[i as usize], &bent, &tree_root).is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn consistency_round_trip_and_tamper() {
        for n in 1..34usize {
            let all = leaves(n);
            let new_root = root(&all);
            for m in 0..=n {
                let proof = consistency_proof(&all, m as u64).unwrap();
                let old_root = root(&all[..m]);
                verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof).unwrap();
                if m > 0 && m < n {
                    let forged = root(&leaves(m + 1)[1..]);
                    assert!(
                        verify_consistency(m as u64, n as u64, &forged, &new_root, &proof).is_err()
                    );
                }
            }
        }
    }

    /// RFC 6962 / certificate-transparency reference vectors: the 8-leaf tree over the inputs
    /// "", 00, 10, 2021, 3031, 40414243, 5051525354555657, 606162636465666768696a6b6c6d6e6f and
    /// its published roots (as used by the CT and trillian test suites).
    #[test]
    fn rfc6962_reference_roots() {
        let inputs: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let all: Vec<Hash> = inputs.iter().map(|d| leaf_hash(d)).collect();
        assert_eq!(
            hex::encode(root(&all[..1])),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex::encode(root(&all[..8])),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }
}
