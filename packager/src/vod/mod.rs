//! Manifests of a VOD asset: HLS playlists and a DASH MPD over one set of CMAF files.
//!
//! The VOD ladder writes, per rendition, one init segment and fMP4 media segments cut at
//! keyframes shared by every video rendition (audio is a rendition of its own). Nothing is
//! stored twice: the HLS playlists and the MPD name the same files, laid out as
//! [`AssetFile`] says.
//!
//! 1. Describe each rendition with [`Rendition::video`] or [`Rendition::audio`], from the
//!    [`crate::TrackConfig`] its init segment is written from
//!    ([`crate::fmp4::init_segment`]).
//! 2. Write each segment to [`Rendition::next_segment`], then record it with
//!    [`Rendition::push_segment`] (start, duration, size). [`Rendition::finish`] when done.
//!    Segments after a discontinuity (a live broadcast's reconnect: the timeline jumps, the
//!    track may change) follow [`Rendition::begin_discontinuity`] and their own init
//!    segment; HLS marks it with `#EXT-X-DISCONTINUITY`, the MPD starts a new Period.
//! 3. [`media_playlist`] for each rendition, at any time: `EVENT` while it is being written,
//!    `VOD` once finished.
//! 4. [`Presentation::new`] with the finished renditions to publish (all of them, or the
//!    ones finished so far), then [`master_playlist`] and [`mpd`].
//!
//! Pure code: text in, text out, no I/O.

mod dash;
#[cfg(test)]
mod fixtures;
mod hls;
mod layout;
mod presentation;
mod rendition;
mod xml;

pub use crate::bitrate::Bandwidth;
pub use crate::error::VodError;
pub use dash::mpd;
pub use hls::{master_playlist, media_playlist};
pub use layout::{AssetFile, FIRST_SEGMENT_NUMBER};
pub use presentation::Presentation;
pub use rendition::{FrameRate, Part, Rendition, Segment};
