//! CMAF packaging and the live LL-HLS window of Tributary.
//!
//! Pure code: plain structs fed with samples and queried for bytes and playlists. No
//! sockets, no async, no media framework.
//!
//! - [`fmp4`]: init segments and fragments (H.264, AAC).
//! - [`LivePackager`]: parts at a target duration, segments at the leader's keyframes, the
//!   DVR window, media and master playlists, blocking-request decisions, renditions taken
//!   out of service and brought back.
//! - [`Resource`]: the names of the files inside a rendition folder.

mod bitrate;
mod error;
pub mod fmp4;
mod live;
mod multivariant;
mod resource;
mod timescale;
mod track;
mod wallclock;

pub use error::{ActivationError, ConfigError, PushError};
pub use live::{BlockDecision, LiveOptions, LivePackager, Position, SegmentData, Skip};
pub use resource::Resource;
pub use track::{AAC_FRAME_SAMPLES, Codec, RenditionId, Sample, TIMESCALE, TrackConfig};
