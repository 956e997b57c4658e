//! Object keys: `/`-separated relative paths, checked the same way by every
//! store so that a key valid on one backend is valid on the other, and so
//! that no key can leave the filesystem store's root.

use crate::error::{Result, StorageError};

/// Segments starting with this are the filesystem store's own (temporary
/// files, multipart uploads): no key may use it.
pub(crate) const RESERVED_PREFIX: &str = ".tributary-";

/// S3's limit on a key's length, in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Checks an object key: not empty, at most 1024 bytes, relative, segments
/// neither empty nor `.` nor `..`, no backslash, no control character (NUL
/// included), no segment starting with `.tributary-`.
pub fn validate_key(key: &str) -> Result<()> {
    let invalid = |reason| {
        Err(StorageError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return invalid("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return invalid("absolute");
    }
    if key.contains('\\') {
        return invalid("backslash");
    }
    if key.chars().any(char::is_control) {
        return invalid("control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("empty segment"),
            "." | ".." => return invalid("dot segment"),
            s if s.starts_with(RESERVED_PREFIX) => return invalid("reserved name"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a listing prefix: empty (everything), or the start of a key, which
/// may end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        rest => validate_key(rest).map_err(|err| match err {
            StorageError::InvalidKey { reason, .. } => StorageError::InvalidKey {
                key: prefix.to_owned(),
                reason,
            },
            other => other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths() {
        for key in ["a", "a/b/c.mp4", "uploads/x y/ü", ".hidden/file", "a..b"] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn rejects_hostile_keys() {
        let long = "a".repeat(1025);
        for key in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "..\\x",
            "a\0b",
            "a\nb",
            ".",
            "..",
            ".tributary-uploads/x",
            "a/.tributary-tmp-1",
            &long,
        ] {
            assert!(
                matches!(validate_key(key), Err(StorageError::InvalidKey { .. })),
                "{key:?}"
            );
        }
    }

    #[test]
    fn prefixes_may_be_empty_or_end_with_a_slash() {
        for prefix in ["", "a", "a/", "a/b", "a/b/"] {
            assert!(validate_prefix(prefix).is_ok(), "{prefix}");
        }
        for prefix in ["/", "//", "../", "a//", "/a"] {
            assert!(validate_prefix(prefix).is_err(), "{prefix}");
        }
    }
}
