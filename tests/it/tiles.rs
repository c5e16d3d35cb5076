//! The C2SP tlog-tiles layout (src/audit/tiles.rs) against the independent `tlog_tiles` crate:
//! the same tiles to publish for each growth, the same tile bytes, and the crate's own tile
//! reader recomputing the tree head and proving inclusion from the tiles wormvault wrote.
//!
//! What the crate cannot check: its paths are Go sumdb's `tile/<H>/<L>/<N>` (height included)
//! where C2SP tlog-tiles writes `tile/<L>/<N>`, so paths are compared after dropping `8/`; and
//! its data tiles (`tile/8/data/…`) are sumdb's record data, not C2SP entry bundles, so entry
//! bundles are checked by recomputing the level-0 tile from them.

use std::collections::HashMap;

use wormvault::audit::{merkle, tiles};

fn entries(n: u64) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            use sha2::Digest;
            sha2::Sha256::digest(format!("record {i}").as_bytes()).into()
        })
        .collect()
}

/// Their sumdb path → the C2SP path.
fn c2sp(path: &str) -> String {
    path.strip_prefix("tile/8/")
        .map(|rest| format!("tile/{rest}"))
        .expect("a height-8 tile path")
}

/// Hashes stored the way the crate stores them (its reference store, built independently).
struct TheirHashes(Vec<tlog_tiles::Hash>);

impl tlog_tiles::HashReader for TheirHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|i| self.0[*i as usize]).collect())
    }
}

/// A tile reader over the objects wormvault wrote.
struct OurTiles(HashMap<String, Vec<u8>>);

impl tlog_tiles::TileReader for OurTiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&c2sp(&t.path()))
                    .cloned()
                    .ok_or(tlog_tiles::Error::InvalidTile)
            })
            .collect()
    }
    fn save_tiles(&self, _tiles: &[tlog_tiles::Tile], _data: &[Vec<u8>]) {}
}

#[test]
fn tiles_match_the_tlog_tiles_crate_and_prove_inclusion() {
    let all = entries(66_000);
    let mut theirs = TheirHashes(Vec::new());
    let mut ours: HashMap<String, Vec<u8>> = HashMap::new();
    let mut old = 0u64;
    for size in [1u64, 5, 256, 300, 513, 65_536, 65_537, 66_000] {
        for n in old..size {
            let hashes = tlog_tiles::stored_hashes(n, &all[n as usize], &theirs).unwrap();
            theirs.0.extend(hashes);
        }
        let new = tiles::tiles_for(&all[..size as usize], old);
        // The same set of hash tiles to publish (their rule is Go's tlog.NewTiles).
        let mut expected: Vec<String> = tlog_tiles::Tile::new_tiles(8, old, size)
            .iter()
            .map(|t| c2sp(&t.path()))
            .collect();
        let mut got: Vec<String> = new
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| !p.starts_with("tile/entries/"))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "tiles published growing {old} → {size}");
        // The same bytes in each tile.
        for tile in tlog_tiles::Tile::new_tiles(8, old, size) {
            let bytes = tile.read_data(&theirs).unwrap();
            let path = c2sp(&tile.path());
            let (_, mine) = new.iter().find(|(p, _)| *p == path).unwrap();
            assert_eq!(mine, &bytes, "{path}");
        }
        ours.extend(new);
        old = size;

        // Their reader, fed our tiles, recomputes the head and proves inclusion.
        let leaves: Vec<merkle::Hash> = all[..size as usize]
            .iter()
            .map(|e| merkle::leaf_hash(e))
            .collect();
        let root = tlog_tiles::Hash(merkle::root(&leaves));
        let store = OurTiles(ours.clone());
        let reader = tlog_tiles::TileHashReader::new(size, root, &store);
        assert_eq!(tlog_tiles::tree_hash(size, &reader).unwrap(), root);
        for n in [0, size / 2, size - 1] {
            let proof = tlog_tiles::prove_record(size, n, &reader).unwrap();
            tlog_tiles::check_record(
                &proof,
                size,
                root,
                n,
                tlog_tiles::record_hash(&all[n as usize]),
            )
            .unwrap();
        }
        // And our own reader agrees.
        let mut fetch = |p: &str, _max: usize| {
            ours.get(p).cloned().ok_or_else(|| tiles::TileError::Read {
                path: p.to_string(),
                problem: "missing".into(),
            })
        };
        assert_eq!(tiles::root_from_tiles(size, &mut fetch).unwrap(), root.0);
    }
}

#[test]
fn a_rewritten_tile_fails_their_authenticated_reader() {
    let all = entries(600);
    let mut ours: HashMap<String, Vec<u8>> = tiles::tiles_for(&all, 0).into_iter().collect();
    let leaves: Vec<merkle::Hash> = all.iter().map(|e| merkle::leaf_hash(e)).collect();
    let root = tlog_tiles::Hash(merkle::root(&leaves));
    ours.get_mut("tile/0/001").unwrap()[0] ^= 1;
    let store = OurTiles(ours);
    let reader = tlog_tiles::TileHashReader::new(600, root, &store);
    // Their reader either refuses the tile outright or yields a proof that does not check.
    if let Ok(proof) = tlog_tiles::prove_record(600, 300, &reader) {
        assert!(
            tlog_tiles::check_record(&proof, 600, root, 300, tlog_tiles::record_hash(&all[300]))
                .is_err(),
            "a proof from a rewritten tile does not check against the signed root"
        );
    }
    // Ours reports the rewritten tile by name.
    let mut fetch = |p: &str, _max: usize| {
        store
            .0
            .get(p)
            .cloned()
            .ok_or_else(|| tiles::TileError::Read {
                path: p.to_string(),
                problem: "missing".into(),
            })
    };
    assert_eq!(
        tiles::entries_from_tiles(600, &mut fetch).unwrap_err(),
        tiles::TileError::TileEntryMismatch {
            path: "tile/0/001".into(),
            index: 256
        }
    );
}
