//! CMAF packaging, the live LL-HLS window and the VOD manifests of Tributary.
//!
//! Pure code: plain structs fed with samples and queried for bytes and playlists. No
//! sockets, no async, no media framework.
//!
//! - [`fmp4`]: init segments and fragments (H.264, AAC).
//! - [`LivePackager`]: parts at a target duration, segments at the leader's keyframes, the
//!   DVR window, media and master playlists, blocking-request decisions, renditions taken
//!   out of service and brought back.
//! - [`Resource`]: the names of the files inside a live rendition folder.
//! - [`vod`]: HLS media and multivariant playlists and a static DASH MPD over one set of CMAF
//!   files per asset, the asset's file layout ([`vod::AssetFile`]), and checks that video
//!   renditions share their segment boundaries.
//!
//! Live and VOD multivariant playlists come from one writer, so `CODECS`, `BANDWIDTH` and
//! the audio group read the same in both.

mod bitrate;
mod error;
pub mod fmp4;
mod live;
mod multivariant;
mod resource;
mod timescale;
mod track;
pub mod vod;
mod wallclock;

pub use error::{ActivationError, ConfigError, PushError, VodError};
pub use live::{
    BlockDecision, CompletedSegment, LiveOptions, LivePackager, Position, SegmentData, Skip,
};
pub use resource::Resource;
pub use track::{AAC_FRAME_SAMPLES, Codec, RenditionId, Sample, TIMESCALE, TrackConfig};
