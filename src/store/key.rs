//! The one rule for a relative object key / relative path (#13 item 8): what may name an object
//! in a store, a file in a bundle plan, or a file restored from receipts. A key is a
//! `/`-separated relative path that cannot escape the directory or prefix it is joined to:
//! non-empty, no leading `/`, no `\` (a separator on Windows), no NUL, and every segment
//! non-empty and neither `.` nor `..` (so no `//` and no trailing `/`).
//!
//! Callers with a stricter rule keep it next to the call, named: the `file://` vault refuses a
//! `.wormvault` segment (its own bookkeeping), Azure caps blob names at 1024, bundle paths also
//! refuse a drive-letter prefix and accept `./` and `//` (normalised away, cavra-compat.md).

use std::fmt;

/// Why a string is not a safe relative key. Checked in this order, so the first reason given
/// is the same for the same input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("empty key")]
    Empty,
    #[error("absolute path")]
    Absolute,
    #[error("backslash in key")]
    Backslash,
    #[error("NUL in key")]
    Nul,
    #[error("empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    #[error("`{0}` segment")]
    DotSegment(&'static str),
}

/// A checked relative key (see the module docs for the rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Check `key` against the one rule.
    pub fn parse(key: &str) -> Result<Key, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.starts_with('/') {
            return Err(KeyError::Absolute);
        }
        if key.contains('\\') {
            return Err(KeyError::Backslash);
        }
        if key.contains('\0') {
            return Err(KeyError::Nul);
        }
        for segment in key.split('/') {
            match segment {
                "" => return Err(KeyError::EmptySegment),
                "." => return Err(KeyError::DotSegment(".")),
                ".." => return Err(KeyError::DotSegment("..")),
                _ => {}
            }
        }
        Ok(Key(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments, each non-empty and neither `.` nor `..`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_keys() {
        for key in [
            "a",
            "a.json",
            "sessions/s1/evidence/a.b",
            "..a/b..",
            ".hidden/x",
            "C:x",
        ] {
            assert_eq!(Key::parse(key).unwrap().as_str(), key);
        }
        let key = Key::parse("a/b/c").unwrap();
        assert_eq!(key.segments().collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn refuses_everything_that_could_escape() {
        let cases = [
            ("", KeyError::Empty),
            ("/etc/passwd", KeyError::Absolute),
            ("a\\b", KeyError::Backslash),
            ("..\\x", KeyError::Backslash),
            ("a\0b", KeyError::Nul),
            ("a//b", KeyError::EmptySegment),
            ("a/", KeyError::EmptySegment),
            (".", KeyError::DotSegment(".")),
            ("./a", KeyError::DotSegment(".")),
            ("..", KeyError::DotSegment("..")),
            ("a/../../x", KeyError::DotSegment("..")),
            ("a/..", KeyError::DotSegment("..")),
        ];
        for (key, expected) in cases {
            assert_eq!(Key::parse(key), Err(expected), "{key:?}");
        }
    }
}
