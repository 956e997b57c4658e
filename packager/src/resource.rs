//! Names of the media resources inside a rendition folder: the only place they are defined.

use std::fmt;

/// One resource of a rendition, as named in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `index.m3u8`: the media playlist.
    Playlist,
    /// `init{n}.mp4`: init segment number `n`. Each discontinuity starts a new one, and so
    /// does a rendition brought back into service with a changed config.
    Init(u32),
    /// `{msn}.m4s`: a whole segment.
    Segment(u64),
    /// `{msn}.{part}.m4s`: one part of a segment.
    Part(u64, u32),
}

impl Resource {
    /// Parses a resource name. Numbers must be canonical (no sign, no leading zeros), so every
    /// resource has exactly one name and caches never hold two copies of it.
    pub fn parse(name: &str) -> Option<Resource> {
        if name == "index.m3u8" {
            return Some(Resource::Playlist);
        }
        if let Some(init) = name
            .strip_prefix("init")
            .and_then(|n| n.strip_suffix(".mp4"))
        {
            return number(init).map(Resource::Init);
        }
        let stem = name.strip_suffix(".m4s")?;
        match stem.split_once('.') {
            None => number(stem).map(Resource::Segment),
            Some((msn, part)) => Some(Resource::Part(number(msn)?, number(part)?)),
        }
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Playlist => f.write_str("index.m3u8"),
            Resource::Init(init) => write!(f, "init{init}.mp4"),
            Resource::Segment(msn) => write!(f, "{msn}.m4s"),
            Resource::Part(msn, part) => write!(f, "{msn}.{part}.m4s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for resource in [
            Resource::Playlist,
            Resource::Init(0),
            Resource::Init(12),
            Resource::Segment(0),
            Resource::Segment(u64::MAX),
            Resource::Part(7, 0),
            Resource::Part(123, 4),
        ] {
            assert_eq!(Resource::parse(&resource.to_string()), Some(resource));
        }
    }

    #[test]
    fn rejects_everything_else() {
        for name in [
            "",
            "index.m3u",
            "init.mp4",
            "init-1.mp4",
            "init01.mp4",
            "01.m4s",
            "+1.m4s",
            "1.2.3.m4s",
            "1..m4s",
            ".1.m4s",
            "1.m4s.m4s",
            "18446744073709551616.m4s",
            "1.4294967296.m4s",
            "../index.m3u8",
            "1.mp4",
        ] {
            assert_eq!(Resource::parse(name), None, "{name}");
        }
    }
}
