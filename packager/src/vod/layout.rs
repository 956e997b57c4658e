//! Where the files of a VOD asset live, relative to the asset's root: the one definition the
//! writer of the files and every manifest share.
//!
//! ```text
//! master.m3u8                HLS multivariant playlist
//! manifest.mpd               DASH MPD
//! <rendition>/index.m3u8     HLS media playlist
//! <rendition>/init.mp4       CMAF header (init segment)
//! <rendition>/seg-00001.m4s  CMAF segments, numbered from 1
//! ```
//!
//! Both manifests sit at the root and media playlists inside their rendition's folder, so
//! every URI in them is relative: an asset plays from any store prefix, origin or CDN path.
//! Segment numbers are zero-padded to five digits so that a listing of the store sorts in
//! playback order; beyond 99999 (111 hours of 4 s segments) they just grow longer, exactly
//! as DASH's `%05d` format tag does.

use std::fmt;

use crate::track::check_rendition_name;

/// The number of the first segment of every rendition (DASH `startNumber`).
pub const FIRST_SEGMENT_NUMBER: u64 = 1;

const MASTER_PLAYLIST: &str = "master.m3u8";
const MPD: &str = "manifest.mpd";
const MEDIA_PLAYLIST: &str = "index.m3u8";
const INIT_SEGMENT: &str = "init.mp4";
const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".m4s";
const SEGMENT_DIGITS: usize = 5;

/// DASH `SegmentTemplate@initialization`: [`AssetFile::Init`] for every Representation, whose
/// id is the rendition name.
pub(crate) const DASH_INITIALIZATION: &str = "$RepresentationID$/init.mp4";
/// DASH `SegmentTemplate@media`: [`AssetFile::Segment`] for every Representation.
pub(crate) const DASH_MEDIA: &str = "$RepresentationID$/seg-$Number%05d$.m4s";

/// One file of a VOD asset. `Display` gives its path from the asset's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetFile<'a> {
    /// `master.m3u8`.
    MasterPlaylist,
    /// `manifest.mpd`.
    Mpd,
    /// `<rendition>/index.m3u8`.
    MediaPlaylist(&'a str),
    /// `<rendition>/init.mp4`.
    Init(&'a str),
    /// `<rendition>/seg-<number, at least 5 digits>.m4s`.
    Segment(&'a str, u64),
}

impl<'a> AssetFile<'a> {
    /// Parses a path from the asset's root. Only canonical paths parse (a valid rendition name,
    /// no extra leading zeros), so every file has exactly one name.
    pub fn parse(path: &'a str) -> Option<AssetFile<'a>> {
        match path {
            MASTER_PLAYLIST => return Some(AssetFile::MasterPlaylist),
            MPD => return Some(AssetFile::Mpd),
            _ => {}
        }
        let (rendition, file) = path.split_once('/')?;
        check_rendition_name(rendition).ok()?;
        match file {
            MEDIA_PLAYLIST => Some(AssetFile::MediaPlaylist(rendition)),
            INIT_SEGMENT => Some(AssetFile::Init(rendition)),
            _ => {
                let digits = file
                    .strip_prefix(SEGMENT_PREFIX)?
                    .strip_suffix(SEGMENT_SUFFIX)?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let number: u64 = digits.parse().ok()?;
                (segment_digits(number) == digits).then_some(AssetFile::Segment(rendition, number))
            }
        }
    }

    /// The file's name inside its folder: what a media playlist, which lives in the same
    /// folder, calls it.
    pub fn file_name(&self) -> String {
        match self {
            AssetFile::MasterPlaylist => MASTER_PLAYLIST.to_owned(),
            AssetFile::Mpd => MPD.to_owned(),
            AssetFile::MediaPlaylist(_) => MEDIA_PLAYLIST.to_owned(),
            AssetFile::Init(_) => INIT_SEGMENT.to_owned(),
            AssetFile::Segment(_, number) => {
                format!(
                    "{SEGMENT_PREFIX}{}{SEGMENT_SUFFIX}",
                    segment_digits(*number)
                )
            }
        }
    }
}

fn segment_digits(number: u64) -> String {
    format!("{number:0SEGMENT_DIGITS$}")
}

impl fmt::Display for AssetFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssetFile::MasterPlaylist | AssetFile::Mpd => f.write_str(&self.file_name()),
            AssetFile::MediaPlaylist(rendition)
            | AssetFile::Init(rendition)
            | AssetFile::Segment(rendition, _) => write!(f, "{rendition}/{}", self.file_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(AssetFile::MasterPlaylist.to_string(), "master.m3u8");
        assert_eq!(AssetFile::Mpd.to_string(), "manifest.mpd");
        assert_eq!(
            AssetFile::MediaPlaylist("720p").to_string(),
            "720p/index.m3u8"
        );
        assert_eq!(AssetFile::Init("720p").to_string(), "720p/init.mp4");
        assert_eq!(
            AssetFile::Segment("720p", 1).to_string(),
            "720p/seg-00001.m4s"
        );
        assert_eq!(
            AssetFile::Segment("audio", 123_456).to_string(),
            "audio/seg-123456.m4s"
        );
        assert_eq!(AssetFile::Segment("a", 7).file_name(), "seg-00007.m4s");
    }

    #[test]
    fn round_trips() {
        for file in [
            AssetFile::MasterPlaylist,
            AssetFile::Mpd,
            AssetFile::MediaPlaylist("720p"),
            AssetFile::Init("audio"),
            AssetFile::Segment("a_b-1", 0),
            AssetFile::Segment("a", 99_999),
            AssetFile::Segment("a", 100_000),
            AssetFile::Segment("a", u64::MAX),
        ] {
            assert_eq!(AssetFile::parse(&file.to_string()), Some(file));
        }
    }

    #[test]
    fn rejects_everything_else() {
        for path in [
            "",
            "index.m3u8",
            "init.mp4",
            "/master.m3u8",
            "720p/master.m3u8",
            "720p/",
            "../init.mp4",
            "a b/init.mp4",
            "720p/sub/init.mp4",
            "720p/seg-1.m4s",
            "720p/seg-000001.m4s",
            "720p/seg-0100000.m4s",
            "720p/seg-+0001.m4s",
            "720p/seg-00001.mp4",
            "720p/seg-18446744073709551616.m4s",
        ] {
            assert_eq!(AssetFile::parse(path), None, "{path}");
        }
    }

    /// The DASH templates, expanded as a player does, name the same files.
    #[test]
    fn dash_templates_name_the_same_files() {
        let expand = |template: &str, id: &str, number: u64| {
            template
                .replace("$RepresentationID$", id)
                .replace("$Number%05d$", &format!("{number:05}"))
        };
        assert_eq!(
            expand(DASH_INITIALIZATION, "360p", 0),
            AssetFile::Init("360p").to_string()
        );
        for number in [FIRST_SEGMENT_NUMBER, 42, 99_999, 100_000, 7_654_321] {
            assert_eq!(
                expand(DASH_MEDIA, "360p", number),
                AssetFile::Segment("360p", number).to_string()
            );
        }
    }
}
