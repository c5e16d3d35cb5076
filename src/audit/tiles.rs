//! The C2SP `tlog-tiles` layout of the audit log's Merkle tree (docs/audit-store.md §2): tile and
//! entry-bundle paths, the bytes of every tile and bundle a tree of a given size has, and a
//! bounded reader that recomputes a tree's root (and its entries) from stored tile bytes so a
//! verifier can check a signed checkpoint against what is in the store. Pure: no I/O — a reader
//! is handed a closure that fetches an object by its path.
//!
//! Facts from c2sp.org/tlog-tiles used here:
//! - tiles have height 8: a full tile holds 256 hashes of 32 bytes, concatenated; a level-`L`
//!   tile's hashes are the roots of consecutive perfect subtrees of 256^L leaves;
//! - a tree of size `s` has, at level `L`, `s >> 8L` hashes: `(s >> 8L) / 256` full tiles and,
//!   if the remainder `W` is not zero, one partial tile of width `W` at `<path>.p/<W>`;
//! - `<N>` in a path is the index in groups of three decimal digits, every group but the last
//!   prefixed `x` (`1234067` → `x001/x234/067`); paths are `tile/<L>/<N>[.p/<W>]` and
//!   `tile/entries/<N>[.p/<W>]`;
//! - an entry bundle is its entries in order, each a big-endian `uint16` length and the bytes,
//!   and the leaf hash of an entry is RFC 6962's `SHA-256(0x00 ‖ entry)`.
//!
//! wormvault's entry for record *i* is the 32 raw bytes of its `record_hash`, so the tlog-tiles
//! leaf hash is exactly wormvault's leaf (`checkpoint::record_leaf`, `merkle` module docs).

use super::merkle::{self, Hash};

/// Tile height (c2sp.org/tlog-tiles: fixed at 8).
pub const TILE_HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile (2^8).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes of one hash.
pub const HASH_LEN: usize = 32;
/// Bytes of one wormvault entry (a raw `record_hash`).
pub const ENTRY_LEN: usize = 32;
/// Largest tree size the reader accepts: 2^40 records (far beyond any audit log; it bounds the
/// number of levels and every index computed from a size read out of a checkpoint).
pub const MAX_TREE_SIZE: u64 = 1 << 40;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TileError {
    #[error("tree size {size} is larger than the {MAX_TREE_SIZE} records a tiled log may hold")]
    TooLarge { size: u64 },
    #[error("{path}: {found} bytes, expected {expected} ({what})")]
    WrongLength {
        path: String,
        expected: usize,
        found: usize,
        what: &'static str,
    },
    #[error("{path}: entry {entry} {problem}")]
    BadEntry {
        path: String,
        entry: u64,
        problem: String,
    },
    #[error("{path}: {problem}")]
    Read { path: String, problem: String },
    #[error(
        "the stored tiles of a tree of size {size} hash to root {computed}, not the checkpoint's {expected}: a tile was rewritten"
    )]
    RootMismatch {
        size: u64,
        expected: String,
        computed: String,
    },
    #[error(
        "{path}: level-0 tile hash {index} is not the leaf hash of entry {index} of the entry bundle: a tile or bundle was rewritten"
    )]
    TileEntryMismatch { path: String, index: u64 },
}

/// `<N>` of a tile path: groups of three digits, all but the last prefixed `x`.
fn index_path(mut index: u64) -> String {
    let mut out = format!("{:03}", index % 1000);
    while index >= 1000 {
        index /= 1000;
        out = format!("x{:03}/{out}", index % 1000);
    }
    out
}

fn width_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// `tile/<L>/<N>[.p/<W>]`: the hash tile at `level`, `index`, holding `width` hashes (1..=256;
/// 256 is a full tile and has no `.p/` suffix).
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", index_path(index), width_suffix(width))
}

/// `tile/entries/<N>[.p/<W>]`: the entry bundle of the level-0 tile `index`.
pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", index_path(index), width_suffix(width))
}

/// The entry bundle of these record hashes: each as a big-endian `uint16` 32 and the 32 bytes.
pub fn entry_bundle(hashes: &[[u8; 32]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * (2 + ENTRY_LEN));
    for hash in hashes {
        out.extend_from_slice(&(ENTRY_LEN as u16).to_be_bytes());
        out.extend_from_slice(hash);
    }
    out
}

/// Parse an entry bundle that must hold exactly `width` entries (1..=256) of 32 bytes each;
/// `path` and `first_index` only name things in errors. Bounded: reads at most `width` entries
/// and refuses trailing bytes, a short entry or another length.
pub fn parse_entry_bundle(
    path: &str,
    bytes: &[u8],
    first_index: u64,
    width: u64,
) -> Result<Vec<[u8; 32]>, TileError> {
    let expected = width as usize * (2 + ENTRY_LEN);
    if width == 0 || width > TILE_WIDTH || bytes.len() != expected {
        return Err(TileError::WrongLength {
            path: path.to_string(),
            expected,
            found: bytes.len(),
            what: "an entry bundle of 2-byte length + 32-byte record hash entries",
        });
    }
    let mut out = Vec::with_capacity(width as usize);
    for (i, chunk) in bytes.chunks_exact(2 + ENTRY_LEN).enumerate() {
        let len = u16::from_be_bytes([chunk[0], chunk[1]]);
        if len as usize != ENTRY_LEN {
            return Err(TileError::BadEntry {
                path: path.to_string(),
                entry: first_index + i as u64,
                problem: format!("has length {len}; a wormvault entry is a 32-byte record hash"),
            });
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&chunk[2..]);
        out.push(hash);
    }
    Ok(out)
}

/// One tile object of a tree: level (`None` = the entry bundle), index and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TileRef {
    level: Option<u32>,
    index: u64,
    width: u64,
}

impl TileRef {
    fn path(&self) -> String {
        match self.level {
            Some(level) => tile_path(level, self.index, self.width),
            None => entries_path(self.index, self.width),
        }
    }
}

/// Hashes at `level` of a tree of `size`: `size >> 8L` (0 once the shift passes 63 bits).
fn level_count(size: u64, level: u32) -> u64 {
    size.checked_shr(TILE_HEIGHT * level).unwrap_or(0)
}

/// Every tile (and entry bundle) of a tree of `size` that one of `old_size` does not have:
/// per level, the full tiles from the first one the old tree lacked, and the new partial tile
/// (the same rule as Go's `tlog.NewTiles`, which `tlog_tiles::Tile::new_tiles` also follows).
fn new_tiles(old_size: u64, size: u64) -> Vec<TileRef> {
    let mut out = Vec::new();
    let mut level = 0;
    while level_count(size, level) > 0 {
        let (old_n, new_n) = (level_count(old_size, level), level_count(size, level));
        if old_n != new_n {
            for index in (old_n / TILE_WIDTH)..(new_n / TILE_WIDTH) {
                out.push(TileRef {
                    level: Some(level),
                    index,
                    width: TILE_WIDTH,
                });
            }
            let width = new_n % TILE_WIDTH;
            if width > 0 {
                out.push(TileRef {
                    level: Some(level),
                    index: new_n / TILE_WIDTH,
                    width,
                });
            }
        }
        level += 1;
    }
    // The entry bundles mirror the level-0 tiles.
    let bundles: Vec<TileRef> = out
        .iter()
        .filter(|t| t.level == Some(0))
        .map(|t| TileRef { level: None, ..*t })
        .collect();
    out.extend(bundles);
    out
}

/// Every tile and entry-bundle object (path relative to the log's prefix, bytes) that a log of
/// `leaves.len()` records has and one of `old_size` records lacks, partial ones included.
///
/// `leaves` are the log's entries in order: the raw 32-byte `record_hash` of each record (the
/// RFC 6962 leaf *data*; the leaf hashes `SHA-256(0x00 ‖ entry)` are computed here). An
/// `old_size` larger than `leaves.len()` yields nothing.
pub fn tiles_for(leaves: &[[u8; 32]], old_size: u64) -> Vec<(String, Vec<u8>)> {
    let size = leaves.len() as u64;
    if old_size >= size {
        return Vec::new();
    }
    let wanted = new_tiles(old_size, size);
    let max_level = wanted.iter().filter_map(|t| t.level).max().unwrap_or(0);
    // levels[L] = the hashes at level L: leaf hashes, then roots of each full group of 256.
    let mut levels: Vec<Vec<Hash>> = vec![leaves.iter().map(|e| merkle::leaf_hash(e)).collect()];
    while (levels.len() as u32) <= max_level {
        let below = levels.last().expect("level 0 is present");
        let above = below
            .chunks_exact(TILE_WIDTH as usize)
            .map(merkle::root)
            .collect();
        levels.push(above);
    }
    wanted
        .into_iter()
        .map(|tile| {
            let start = (tile.index * TILE_WIDTH) as usize;
            let end = start + tile.width as usize;
            let bytes = match tile.level {
                None => entry_bundle(&leaves[start..end]),
                Some(level) => levels[level as usize][start..end].concat(),
            };
            (tile.path(), bytes)
        })
        .collect()
}

/// Reads tile objects by path for [`root_from_tiles`] and [`entries_from_tiles`]: returns the
/// object's bytes, or an error (say `TileError::Read` naming the path) when it cannot. `max_len`
/// is the exact size the object must have: a fetcher must refuse (not read) anything larger, so
/// a hostile store cannot make the reader buffer more than one tile (at most 8,704 bytes).
pub trait TileFetch {
    fn fetch(&mut self, path: &str, max_len: usize) -> Result<Vec<u8>, TileError>;
}

impl<F: FnMut(&str, usize) -> Result<Vec<u8>, TileError>> TileFetch for F {
    fn fetch(&mut self, path: &str, max_len: usize) -> Result<Vec<u8>, TileError> {
        self(path, max_len)
    }
}

/// Fetch a hash tile and check it is exactly `width` hashes long.
fn read_tile(
    fetch: &mut impl TileFetch,
    level: u32,
    index: u64,
    width: u64,
) -> Result<Vec<Hash>, TileError> {
    let path = tile_path(level, index, width);
    let expected = width as usize * HASH_LEN;
    let bytes = fetch.fetch(&path, expected)?;
    if bytes.len() != expected {
        return Err(TileError::WrongLength {
            path,
            expected,
            found: bytes.len(),
            what: "a tile of 32-byte hashes",
        });
    }
    Ok(bytes
        .chunks_exact(HASH_LEN)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect())
}

/// The width of tile `index` at `level` in a tree of `size`.
fn tile_width(size: u64, level: u32, index: u64) -> u64 {
    (level_count(size, level) - index * TILE_WIDTH).min(TILE_WIDTH)
}

/// The RFC 6962 root of the tree of `size` records, recomputed from the stored hash tiles of
/// that size alone (at most one tile per level-and-perfect-subtree: O(log size) reads, each
/// checked for its exact length). Compare it with a signed checkpoint's root: a rewritten,
/// truncated or missing tile on the path gives a different root or an error naming the tile.
pub fn root_from_tiles(size: u64, fetch: &mut impl TileFetch) -> Result<Hash, TileError> {
    if size > MAX_TREE_SIZE {
        return Err(TileError::TooLarge { size });
    }
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    // The tree is the perfect subtrees of the binary decomposition of `size`, largest first;
    // each of 2^k leaves (k = 8L + r) is 2^r consecutive level-L hashes inside one tile.
    let mut subtrees: Vec<Hash> = Vec::new();
    let mut offset = 0u64;
    let mut cache: Option<((u32, u64), Vec<Hash>)> = None;
    for k in (0..64u32).rev() {
        if size & (1u64 << k) == 0 {
            continue;
        }
        let (level, r) = (k / TILE_HEIGHT, k % TILE_HEIGHT);
        let first = offset >> (TILE_HEIGHT * level); // index among level-L hashes
        let index = first / TILE_WIDTH;
        let width = tile_width(size, level, index);
        let hashes = match &cache {
            Some((key, hashes)) if *key == (level, index) => hashes.clone(),
            _ => {
                let hashes = read_tile(fetch, level, index, width)?;
                cache = Some(((level, index), hashes.clone()));
                hashes
            }
        };
        let start = (first % TILE_WIDTH) as usize;
        subtrees.push(merkle::root(&hashes[start..start + (1usize << r)]));
        offset += 1u64 << k;
    }
    let mut root = subtrees.pop().expect("size > 0 has a subtree");
    while let Some(left) = subtrees.pop() {
        root = merkle::node_hash(&left, &root);
    }
    Ok(root)
}

/// Check the stored tiles of a tree against a signed checkpoint's size and root (the caller has
/// verified the checkpoint's signature against the pinned key): a rewritten, truncated or missing
/// tile on the path is an error naming the tile, or [`TileError::RootMismatch`].
pub fn check_root(size: u64, root: &Hash, fetch: &mut impl TileFetch) -> Result<(), TileError> {
    let computed = root_from_tiles(size, fetch)?;
    if computed == *root {
        Ok(())
    } else {
        Err(TileError::RootMismatch {
            size,
            expected: hex::encode(root),
            computed: hex::encode(computed),
        })
    }
}

/// Every entry (raw record hash) of a tree of `size`, read from its entry bundles, each checked
/// against the level-0 tile of the same index (so a bundle and a tile cannot disagree), and the
/// full level-`L+1` hashes checked against the level-`L` tiles they summarise. With
/// [`root_from_tiles`] equal to a signed checkpoint's root, this proves every stored tile object
/// of that size. Memory: 32 bytes per record (bounded by [`MAX_TREE_SIZE`]; callers verifying
/// huge logs should stream records instead).
pub fn entries_from_tiles(
    size: u64,
    fetch: &mut impl TileFetch,
) -> Result<Vec<[u8; 32]>, TileError> {
    if size > MAX_TREE_SIZE {
        return Err(TileError::TooLarge { size });
    }
    let mut entries = Vec::with_capacity(size.min(1 << 20) as usize);
    let mut below: Vec<Hash> = Vec::new();
    let tiles0 = size.div_ceil(TILE_WIDTH);
    for index in 0..tiles0 {
        let width = tile_width(size, 0, index);
        let path = entries_path(index, width);
        let bytes = fetch.fetch(&path, width as usize * (2 + ENTRY_LEN))?;
        let bundle = parse_entry_bundle(&path, &bytes, index * TILE_WIDTH, width)?;
        let tile = read_tile(fetch, 0, index, width)?;
        for (i, (entry, hash)) in bundle.iter().zip(&tile).enumerate() {
            if merkle::leaf_hash(entry) != *hash {
                return Err(TileError::TileEntryMismatch {
                    path: tile_path(0, index, width),
                    index: index * TILE_WIDTH + i as u64,
                });
            }
        }
        below.extend_from_slice(&tile);
        entries.extend(bundle);
    }
    // Each level's full groups of 256 must hash to the next level's tile contents.
    let mut level = 1;
    while level_count(size, level) > 0 {
        let count = level_count(size, level);
        let mut above = Vec::with_capacity(count as usize);
        for index in 0..count.div_ceil(TILE_WIDTH) {
            let width = tile_width(size, level, index);
            let tile = read_tile(fetch, level, index, width)?;
            for (i, hash) in tile.iter().enumerate() {
                let n = index as usize * TILE_WIDTH as usize + i;
                let group = &below[n * TILE_WIDTH as usize..(n + 1) * TILE_WIDTH as usize];
                if merkle::root(group) != *hash {
                    return Err(TileError::Read {
                        path: tile_path(level, index, width),
                        problem: format!(
                            "hash {i} is not the root of the 256 hashes below it: the tile was rewritten"
                        ),
                    });
                }
            }
            above.extend(tile);
        }
        below = above;
        level += 1;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entries(n: u64) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| {
                use sha2::Digest;
                sha2::Sha256::digest(i.to_be_bytes()).into()
            })
            .collect()
    }

    fn store(entries: &[[u8; 32]]) -> HashMap<String, Vec<u8>> {
        tiles_for(entries, 0).into_iter().collect()
    }

    fn reader(
        map: &HashMap<String, Vec<u8>>,
    ) -> impl FnMut(&str, usize) -> Result<Vec<u8>, TileError> + '_ {
        |path: &str, max_len: usize| {
            let bytes = map.get(path).cloned().ok_or_else(|| TileError::Read {
                path: path.to_string(),
                problem: "missing".into(),
            })?;
            if bytes.len() > max_len {
                return Err(TileError::Read {
                    path: path.to_string(),
                    problem: format!("{} bytes, more than {max_len}", bytes.len()),
                });
            }
            Ok(bytes)
        }
    }

    #[test]
    fn paths_follow_the_spec_examples() {
        assert_eq!(tile_path(0, 1_234_067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 1_234_067, 8), "tile/1/x001/x234/067.p/8");
        assert_eq!(tile_path(0, 0, 1), "tile/0/000.p/1");
        assert_eq!(tile_path(2, 1000, 256), "tile/2/x001/000");
        assert_eq!(entries_path(1_234_067, 256), "tile/entries/x001/x234/067");
        assert_eq!(entries_path(3, 44), "tile/entries/003.p/44");
    }

    #[test]
    fn entry_bundle_round_trips_and_the_parser_is_strict() {
        let e = entries(3);
        let bundle = entry_bundle(&e);
        assert_eq!(bundle.len(), 3 * 34);
        assert_eq!(&bundle[..2], &[0, 32]);
        assert_eq!(parse_entry_bundle("b", &bundle, 0, 3).unwrap(), e);
        // Wrong width, trailing byte, wrong entry length.
        assert!(matches!(
            parse_entry_bundle("b", &bundle, 0, 2),
            Err(TileError::WrongLength { .. })
        ));
        let mut long = bundle.clone();
        long.push(0);
        assert!(parse_entry_bundle("b", &long, 0, 3).is_err());
        let mut bad = bundle.clone();
        bad[35] = 33;
        assert_eq!(
            parse_entry_bundle("b", &bad, 10, 3).unwrap_err(),
            TileError::BadEntry {
                path: "b".into(),
                entry: 11,
                problem: "has length 33; a wormvault entry is a 32-byte record hash".into()
            }
        );
        assert!(parse_entry_bundle("b", &[], 0, 0).is_err());
    }

    #[test]
    fn tiles_of_a_small_tree() {
        let e = entries(300);
        let tiles = tiles_for(&e, 0);
        let paths: Vec<&str> = tiles.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tile/0/000",
                "tile/0/001.p/44",
                "tile/1/000.p/1",
                "tile/entries/000",
                "tile/entries/001.p/44"
            ]
        );
        let leaves: Vec<Hash> = e.iter().map(|x| merkle::leaf_hash(x)).collect();
        assert_eq!(tiles[0].1, leaves[..256].concat());
        assert_eq!(tiles[1].1, leaves[256..].concat());
        assert_eq!(tiles[2].1, merkle::root(&leaves[..256]).to_vec());
        assert_eq!(tiles[3].1, entry_bundle(&e[..256]));
        // Growing 300 → 600 adds tile 1 full, tile 2 partial, the wider level-1 tile.
        let grown: Vec<String> = tiles_for(&entries(600), 300)
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(
            grown,
            [
                "tile/0/001",
                "tile/0/002.p/88",
                "tile/1/000.p/2",
                "tile/entries/001",
                "tile/entries/002.p/88"
            ]
        );
        assert!(tiles_for(&e, 300).is_empty());
        assert!(tiles_for(&e, 301).is_empty());
    }

    #[test]
    fn root_from_tiles_matches_merkle_for_many_sizes() {
        let all = entries(70_000);
        let leaves: Vec<Hash> = all.iter().map(|x| merkle::leaf_hash(x)).collect();
        // Build the store incrementally, as an integrator would, and check every size read.
        let mut map = HashMap::new();
        let mut old = 0u64;
        for size in [
            1u64, 2, 3, 255, 256, 257, 511, 512, 1000, 65_535, 65_536, 65_537, 70_000,
        ] {
            map.extend(tiles_for(&all[..size as usize], old));
            old = size;
            let root = root_from_tiles(size, &mut reader(&map)).unwrap();
            assert_eq!(root, merkle::root(&leaves[..size as usize]), "size {size}");
        }
        assert_eq!(
            root_from_tiles(0, &mut reader(&map)).unwrap(),
            merkle::empty_root()
        );
        assert_eq!(entries_from_tiles(70_000, &mut reader(&map)).unwrap(), all);
    }

    #[test]
    fn rewritten_truncated_or_missing_tiles_are_caught() {
        let e = entries(600);
        let good = store(&e);
        let root = merkle::root(&e.iter().map(|x| merkle::leaf_hash(x)).collect::<Vec<_>>());
        assert_eq!(root_from_tiles(600, &mut reader(&good)).unwrap(), root);

        let mut rewritten = good.clone();
        rewritten.get_mut("tile/0/002.p/88").unwrap()[5] ^= 1;
        assert_ne!(root_from_tiles(600, &mut reader(&rewritten)).unwrap(), root);
        assert!(check_root(600, &root, &mut reader(&good)).is_ok());
        assert!(matches!(
            check_root(600, &root, &mut reader(&rewritten)).unwrap_err(),
            TileError::RootMismatch { size: 600, .. }
        ));
        // A tile with bytes appended is refused by the capped fetch.
        let mut longer = good.clone();
        longer.get_mut("tile/1/000.p/2").unwrap().push(0);
        assert!(matches!(
            root_from_tiles(600, &mut reader(&longer)).unwrap_err(),
            TileError::Read { path, .. } if path == "tile/1/000.p/2"
        ));
        assert_eq!(
            entries_from_tiles(600, &mut reader(&rewritten)).unwrap_err(),
            TileError::TileEntryMismatch {
                path: "tile/0/002.p/88".into(),
                index: 512
            }
        );

        let mut short = good.clone();
        short.get_mut("tile/1/000.p/2").unwrap().truncate(40);
        assert!(matches!(
            root_from_tiles(600, &mut reader(&short)).unwrap_err(),
            TileError::WrongLength { path, .. } if path == "tile/1/000.p/2"
        ));

        let mut missing = good.clone();
        missing.remove("tile/entries/001");
        assert!(matches!(
            entries_from_tiles(600, &mut reader(&missing)).unwrap_err(),
            TileError::Read { path, .. } if path == "tile/entries/001"
        ));

        // A level-1 hash that does not summarise its level-0 tile.
        let mut lvl1 = good;
        lvl1.get_mut("tile/1/000.p/2").unwrap()[0] ^= 1;
        assert!(matches!(
            entries_from_tiles(600, &mut reader(&lvl1)).unwrap_err(),
            TileError::Read { path, .. } if path == "tile/1/000.p/2"
        ));

        assert_eq!(
            root_from_tiles(MAX_TREE_SIZE + 1, &mut reader(&HashMap::new())).unwrap_err(),
            TileError::TooLarge {
                size: MAX_TREE_SIZE + 1
            }
        );
    }
}
