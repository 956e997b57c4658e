//! Random identifiers and secrets.

use rand::Rng;
use rand::distr::Alphanumeric;

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A stream id: short, URL-safe, public.
pub fn stream_id() -> String {
    random_string(12).to_ascii_lowercase()
}

/// A broadcast id; part of every live media path, so names are never reused.
pub fn broadcast_id() -> String {
    random_string(10).to_ascii_lowercase()
}

/// A stream key or token: a secret with about 190 bits of entropy.
pub fn secret() -> String {
    random_string(32)
}

/// Lowercase hex of bytes (digests, signatures).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` could be an id this module made (guards paths built from requests).
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let a = stream_id();
        assert!(is_id(&a) && a.len() == 12);
        assert_ne!(a, stream_id());
        assert_eq!(secret().len(), 32);
        assert!(!is_id("../x") && !is_id(""));
    }
}
