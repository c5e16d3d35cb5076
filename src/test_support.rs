//! Test support shared by the unit tests (`#[cfg(test)]`) and the integration tests (which turn
//! on the `conformance` feature through the dev-dependency in Cargo.toml): builders for hostile
//! inputs that well-behaved libraries refuse to write. Never part of a release build.
//!
//! One home for each builder (docs/architecture-2.md row D5): a fix to how a hostile archive is
//! written reaches every test that relies on it.

/// One raw tar entry: header name, entry type, data, link name. Names and link names are copied
/// byte for byte into a GNU header (at most 100 bytes each), so `../x`, `/abs`, links to
/// anywhere and names that are not UTF-8 can be written at all — `tar::Builder::append_path`
/// refuses them.
pub type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8], &'a str);

/// A gzip'd tar of `(name, type, data, link)` entries with UTF-8 names, written with raw GNU
/// headers as [`raw_tar_gz_declaring`] writes them.
pub fn raw_tar_gz(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let entries: Vec<RawEntry<'_>> = entries
        .iter()
        .map(|(name, kind, data, link)| (name.as_bytes(), *kind, *data, *link))
        .collect();
    raw_tar_gz_declaring(&entries, None)
}

/// A gzip'd tar of `entries` written with raw GNU headers (see [`RawEntry`]). When `declared` is
/// given, every empty regular entry's header declares that many bytes instead of 0: an archive
/// that promises more data than it holds, or a size over a limit the test need not write.
pub fn raw_tar_gz_declaring(entries: &[RawEntry<'_>], declared: Option<u64>) -> Vec<u8> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gzip);
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("a new GNU header is GNU");
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if let (Some(size), true) = (
            declared,
            data.is_empty() && *kind == tar::EntryType::Regular,
        ) {
            header.set_size(size);
        }
        header.set_cksum();
        builder
            .append(&header, *data)
            .expect("writing a tar entry to memory");
    }
    let gzip = builder.into_inner().expect("finishing the tar in memory");
    gzip.finish().expect("finishing gzip in memory")
}
