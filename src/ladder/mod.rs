//! The live adaptive ladder: one GStreamer pipeline per live stream.
//!
//! Source frames (AVCC H.264, 90 kHz) enter through an `appsrc`, are decoded
//! once, scaled per rung (each rung from the next larger one) and encoded
//! with x264 tuned for latency; encoded frames leave through `appsink`s as
//! [`LadderEvent`]s. Every rung gets a keyframe exactly at each source
//! keyframe's pts and nowhere else, so segment N covers the same media time
//! in every rendition.
//!
//! [`LadderMode::Batch`] encodes every frame (push blocks), for benchmarks
//! and VOD. In [`LadderMode::Live`] pushing never blocks: a rung whose frames fall
//! behind is fed only from the next fresh source keyframe, and the most
//! expensive rungs are shed while the machine cannot keep up (see
//! [`OverloadPolicy`]). A pipeline error rebuilds the pipeline, which
//! resumes at the next source keyframe.

mod branches;
pub(crate) mod colorimetry;
mod error;
mod event;
mod feeder;
mod gate;
mod health;
mod live_ladder;
mod output;
mod overload;
mod pipeline;
mod push_log;
mod restart;
mod rung;
mod shared;
mod timebase;
mod tuning;

#[cfg(test)]
mod tests;

pub use error::LadderError;
pub use event::{LadderEvent, LadderStatus, RungState, RungStatus};
pub use live_ladder::{LadderMode, LiveLadder};
pub use overload::OverloadPolicy;
pub use rung::{Rung, default_rungs, rung_width, rungs_for_source};
pub use tuning::{ScaleMethod, Tuning, X264_PRESETS, x264_encoder};
