//! Typed errors of the packager.

use crate::fmp4::SampleTooLarge;
use crate::track::RenditionId;

/// A track configuration or rendition name that cannot be packaged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The avcC record is shorter than its fixed header or not version 1.
    #[error("the AVCDecoderConfigurationRecord is truncated or not version 1")]
    AvcRecord,
    /// Video dimensions are zero or do not fit the 16-bit sample entry fields.
    #[error("video dimensions {width}x{height} are not usable")]
    Dimensions {
        /// Width as given.
        width: u32,
        /// Height as given.
        height: u32,
    },
    /// The AudioSpecificConfig has a length an esds descriptor cannot carry sensibly.
    #[error("the AudioSpecificConfig is {0} bytes long (expected 2..=127)")]
    AudioSpecificConfig(usize),
    /// Sample rate or channel count is zero.
    #[error("audio format {sample_rate} Hz with {channels} channels is not usable")]
    AudioFormat {
        /// Sample rate as given.
        sample_rate: u32,
        /// Channel count as given.
        channels: u8,
    },
    /// The codec string would break the playlist syntax.
    #[error("codec string {0:?} is empty or has characters other than letters, digits and dots")]
    CodecString(String),
    /// A rendition name must be a single URI path segment of letters, digits, `-` or `_`.
    #[error("rendition name {0:?} is not a plain URI path segment")]
    RenditionName(String),
    /// Two renditions cannot share a name.
    #[error("a rendition named {0:?} already exists")]
    DuplicateRendition(String),
    /// The id does not belong to this packager.
    #[error("unknown rendition {0:?}")]
    UnknownRendition(RenditionId),
}

/// A sample the packager refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    /// The id does not belong to this packager.
    #[error("unknown rendition {0:?}")]
    UnknownRendition(RenditionId),
    /// No publish is in progress (`begin_publish` not called, or the publish ended).
    #[error("no publish is in progress")]
    NotPublishing,
    /// Decode timestamps must increase within a rendition.
    #[error("decode time {dts} does not follow the previous sample's {previous}")]
    NonMonotonic {
        /// The refused sample's decode time, in the rendition's timescale, rebased.
        dts: i64,
        /// The previous sample's decode time.
        previous: i64,
    },
    /// A sample larger than a 32-bit trun size field.
    #[error(transparent)]
    SampleTooLarge(#[from] SampleTooLarge),
    /// The composition offset does not fit the signed 32-bit trun field.
    #[error("composition offset {0} ticks is out of range")]
    CompositionOffset(i64),
}

/// A rendition that cannot be taken out of service or brought back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivationError {
    /// The id does not belong to this packager.
    #[error("unknown rendition {0:?}")]
    UnknownRendition(RenditionId),
    /// The leader's keyframes cut every rendition's segments: it stays in service.
    #[error("rendition {0:?} leads the segment cuts and cannot be taken out of service")]
    Leader(RenditionId),
}

/// A VOD rendition or presentation that manifests cannot describe.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VodError {
    /// A bad rendition name or track config, or two renditions with one name.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A video rendition was built from a config of another kind.
    #[error("rendition {0:?} is described as video but its codec is not")]
    NotVideo(String),
    /// An audio rendition was built from a config of another kind.
    #[error("rendition {0:?} is described as audio but its codec is not")]
    NotAudio(String),
    /// A frame rate with a zero term.
    #[error("frame rate {num}/{den} is not usable")]
    FrameRate {
        /// Frames.
        num: u32,
        /// Per this many seconds.
        den: u32,
    },
    /// A language that is not a BCP 47 tag of letters, digits and hyphens.
    #[error("language {0:?} is not a BCP 47 tag")]
    Language(String),
    /// A segment that lasts no time at all.
    #[error("segment {number} of rendition {rendition:?} has a zero duration")]
    ZeroDuration {
        /// The rendition.
        rendition: String,
        /// The refused segment's number.
        number: u64,
    },
    /// A segment that starts before the previous one ends.
    #[error(
        "segment {number} of rendition {rendition:?} starts at {start}, before the previous one ends at {previous_end}"
    )]
    Overlap {
        /// The rendition.
        rendition: String,
        /// The refused segment's number.
        number: u64,
        /// Its start, in the rendition's timescale.
        start: u64,
        /// The end of the segment before it.
        previous_end: u128,
    },
    /// A discontinuity or [`crate::vod::Rendition::finish`] while the current init segment
    /// has no segments after it: nothing would use it.
    #[error("no segment of rendition {rendition:?} uses init segment {init} yet")]
    EmptyInit {
        /// The rendition.
        rendition: String,
        /// The init segment without segments.
        init: u32,
    },
    /// A discontinuity whose config has another timescale: segment times of a rendition are
    /// all in one timescale (audio's is its sample rate).
    #[error("rendition {rendition:?} has timescale {expected}, a new init segment {timescale}")]
    TimescaleChange {
        /// The rendition.
        rendition: String,
        /// The refused config's timescale.
        timescale: u32,
        /// The rendition's timescale.
        expected: u32,
    },
    /// More init segments than their 32-bit numbers count.
    #[error("rendition {0:?} has too many init segments")]
    TooManyInits(String),
    /// Numbers chosen for a rendition that already has segments.
    #[error("rendition {0:?} already has segments: its numbering is set")]
    Renumbered(String),
    /// A segment number that would go back.
    #[error("rendition {rendition:?} cannot number a segment {number}: the next is {next}")]
    NumberSkipped {
        /// The rendition.
        rendition: String,
        /// The number asked for.
        number: u64,
        /// The lowest number allowed.
        next: u64,
    },
    /// An init segment number that goes back, or the current one with another track.
    #[error("rendition {rendition:?} cannot use init segment {init} after {latest}")]
    InitNumber {
        /// The rendition.
        rendition: String,
        /// The number asked for.
        init: u32,
        /// The current init segment's number.
        latest: u32,
    },
    /// Two renditions of a presentation whose discontinuities differ: one has a discontinuity
    /// before segment `number`, the other does not.
    #[error(
        "rendition {rendition:?} and {reference:?} differ in a discontinuity before segment {number}"
    )]
    DiscontinuityMismatch {
        /// The rendition that differs.
        rendition: String,
        /// The first rendition, the reference.
        reference: String,
        /// The first segment where they differ.
        number: u64,
    },
    /// A segment or discontinuity added after the rendition was finished.
    #[error("rendition {0:?} is finished and takes no more segments")]
    Finished(String),
    /// A rendition without segments.
    #[error("rendition {0:?} has no segments")]
    NoSegments(String),
    /// A presentation lists complete renditions only.
    #[error("rendition {0:?} is still being written")]
    Incomplete(String),
    /// A presentation needs at least one rendition.
    #[error("a presentation needs at least one rendition")]
    NoRenditions,
    /// Two video renditions with different segment counts.
    #[error("video rendition {rendition:?} has {count} segments, {reference:?} has {expected}")]
    SegmentCount {
        /// The rendition that differs.
        rendition: String,
        /// The first video rendition, the reference.
        reference: String,
        /// Segments of `rendition`.
        count: usize,
        /// Segments of `reference`.
        expected: usize,
    },
    /// Two video renditions whose segment `number` starts at different times.
    #[error(
        "segment {number} of video rendition {rendition:?} does not start when {reference:?}'s does"
    )]
    Misaligned {
        /// The rendition that differs.
        rendition: String,
        /// The first video rendition, the reference.
        reference: String,
        /// The first segment that does not line up.
        number: u64,
    },
}
