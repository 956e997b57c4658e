//! Where the files of a VOD asset live, relative to the asset's root: the one definition the
//! writer of the files and every manifest share.
//!
//! ```text
//! master.m3u8                HLS multivariant playlist
//! manifest.mpd               DASH MPD
//! <rendition>/index.m3u8     HLS media playlist
//! <rendition>/init.mp4       CMAF header (init segment)
//! <rendition>/init-1.mp4     CMAF header of the segments after the first discontinuity
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
const NUMBERED_INIT_PREFIX: &str = "init-";
const NUMBERED_INIT_SUFFIX: &str = ".mp4";
const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".m4s";
const SEGMENT_DIGITS: usize = 5;

/// DASH `SegmentTemplate@initialization`: [`AssetFile::Init`] number `init` for every
/// Representation, whose id is the rendition name.
pub(crate) fn dash_initialization(init: u32) -> String {
    format!("$RepresentationID$/{}", init_file_name(init))
}

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
    /// `<rendition>/init.mp4` for init segment 0, the rendition's first;
    /// `<rendition>/init-<number>.mp4` for the one after discontinuity `number`.
    Init(&'a str, u32),
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
        if file == MEDIA_PLAYLIST {
            return Some(AssetFile::MediaPlaylist(rendition));
        }
        parse_init(file)
            .map(|init| AssetFile::Init(rendition, init))
            .or_else(|| parse_segment(file).map(|number| AssetFile::Segment(rendition, number)))
    }

    /// The file's name inside its folder: what a media playlist, which lives in the same
    /// folder, calls it.
    pub fn file_name(&self) -> String {
        match self {
            AssetFile::MasterPlaylist => MASTER_PLAYLIST.to_owned(),
            AssetFile::Mpd => MPD.to_owned(),
            AssetFile::MediaPlaylist(_) => MEDIA_PLAYLIST.to_owned(),
            AssetFile::Init(_, init) => init_file_name(*init),
            AssetFile::Segment(_, number) => {
                format!(
                    "{SEGMENT_PREFIX}{}{SEGMENT_SUFFIX}",
                    segment_digits(*number)
                )
            }
        }
    }
}

/// The number of a canonical init segment name.
fn parse_init(file: &str) -> Option<u32> {
    if file == INIT_SEGMENT {
        return Some(0);
    }
    let digits = file
        .strip_prefix(NUMBERED_INIT_PREFIX)?
        .strip_suffix(NUMBERED_INIT_SUFFIX)?;
    let init = parse_digits(digits)?;
    (init_file_name(init) == file).then_some(init)
}

/// The number of a canonical segment name.
fn parse_segment(file: &str) -> Option<u64> {
    let digits = file
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    let number = parse_digits(digits)?;
    (segment_digits(number) == digits).then_some(number)
}

/// Decimal digits only: `str::parse` alone would also take a leading `+`.
fn parse_digits<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn init_file_name(init: u32) -> String {
    if init == 0 {
        INIT_SEGMENT.to_owned()
    } else {
        format!("{NUMBERED_INIT_PREFIX}{init}{NUMBERED_INIT_SUFFIX}")
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
            | AssetFile::Init(rendition, _)
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
        assert_eq!(AssetFile::Init("720p", 0).to_string(), "720p/init.mp4");
        assert_eq!(AssetFile::Init("720p", 1).to_string(), "720p/init-1.mp4");
        assert_eq!(AssetFile::Init("720p", 12).file_name(), "init-12.mp4");
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
            AssetFile::Init("audio", 0),
            AssetFile::Init("audio", 1),
            AssetFile::Init("audio", 10),
            AssetFile::Init("audio", u32::MAX),
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
            "720p/init-0.mp4",
            "720p/init-01.mp4",
            "720p/init-.mp4",
            "720p/init-+1.mp4",
            "720p/init-1.m4s",
            "720p/init-1",
            "720p/init-x.mp4",
            "720p/init-4294967296.mp4",
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
        for init in [0, 1, 2, 10] {
            assert_eq!(
                expand(&dash_initialization(init), "360p", 0),
                AssetFile::Init("360p", init).to_string()
            );
        }
        for number in [FIRST_SEGMENT_NUMBER, 42, 99_999, 100_000, 7_654_321] {
            assert_eq!(
                expand(DASH_MEDIA, "360p", number),
                AssetFile::Segment("360p", number).to_string()
            );
        }
    }
}
