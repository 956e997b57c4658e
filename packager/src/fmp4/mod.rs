//! CMAF fMP4 box writer for H.264 video and AAC audio.
//!
//! Every init segment describes a single track with id 1: each rendition is its own file.

mod bx;
mod fragment;
mod init;

pub use fragment::{FragmentSample, SampleTooLarge, fragment};
pub use init::init_segment;

/// The one track of every file this crate writes.
pub const TRACK_ID: u32 = 1;
