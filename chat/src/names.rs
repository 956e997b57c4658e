//! User names and viewer ids: what a client may call itself.

/// Longest name, in characters.
pub const MAX_NAME: usize = 25;

/// 1 to 25 characters of ASCII letters, digits, `_` and `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && name.bytes().all(id_byte)
}

/// Names are unique without regard to case: `Ada` and `ada` are one user.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// An opaque viewer id a page keeps: 8 to 64 of the name characters.
pub fn valid_viewer_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(id_byte)
}

fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        for good in ["a", "Ada_Lovelace-1815", &"x".repeat(25)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(26),
            "a b",
            "ümlaut",
            "<script>",
            "a.b",
            "a\n",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(name_key("AdA"), "ada");
    }

    #[test]
    fn viewer_ids_are_bounded() {
        assert!(valid_viewer_id("abcd1234"));
        assert!(!valid_viewer_id("short"));
        assert!(!valid_viewer_id(&"v".repeat(65)));
        assert!(!valid_viewer_id("abcd 1234"));
    }
}
