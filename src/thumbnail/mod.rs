//! JPEG posters from a keyframe, decoded with GStreamer.
//!
//! Each call runs a short-lived pipeline, `appsrc ! avdec_h264 ! videoscale
//! ! videoconvert ! jpegenc ! appsink`, for one keyframe and its config.

mod size;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSink, AppSrc};
use ingest::h264::{H264Error, nal_type, nal_unit_type, parse_avcc};
use ingest::{Frame, TrackKind, VideoCodec, VideoConfig};

/// How long one decode may take before it is abandoned.
const TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(5);

/// Why no poster could be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("{0}")]
    Init(String),
    #[error("posters are made from H.264 only, not {0:?}")]
    Codec(VideoCodec),
    #[error("not a video keyframe (IDR)")]
    NotKeyframe,
    #[error("H.264 config: {0}")]
    Config(#[from] H264Error),
    #[error("cannot scale {width}x{height} to at most {max_width} wide")]
    Size {
        width: u32,
        height: u32,
        max_width: u32,
    },
    #[error("building the poster pipeline: {0}")]
    Pipeline(#[from] gst::glib::Error),
    #[error("poster pipeline has no {0}")]
    Element(&'static str),
    #[error("starting the poster pipeline: {0}")]
    Start(#[from] gst::StateChangeError),
    #[error("decoding the keyframe: {0}")]
    Decode(String),
    #[error("the keyframe decoded to no picture")]
    NoPicture,
    #[error("no poster after {TIMEOUT}")]
    Timeout,
}

/// Decodes one H.264 keyframe (with its config) and encodes a JPEG at most
/// `max_width` wide (aspect kept, even height and width).
///
/// Blocking (about 15 ms for a typical 1080p keyframe, 6 ms of it pipeline
/// setup): async callers use `spawn_blocking`.
/// Gives up after five seconds rather than hanging.
pub fn jpeg_from_keyframe(
    config: &VideoConfig,
    keyframe: &Frame,
    max_width: u32,
) -> Result<Bytes, ThumbnailError> {
    if config.codec != VideoCodec::H264 {
        return Err(ThumbnailError::Codec(config.codec));
    }
    if keyframe.kind != TrackKind::Video || !keyframe.keyframe || !has_idr(&keyframe.data) {
        return Err(ThumbnailError::NotKeyframe);
    }
    let avc = parse_avcc(&config.record)?;
    let (width, height) = (avc.sps.width, avc.sps.height);
    let (out_width, out_height) =
        size::scaled(width, height, max_width).ok_or(ThumbnailError::Size {
            width,
            height,
            max_width,
        })?;
    crate::gst_init::init().map_err(ThumbnailError::Init)?;
    let pipeline = Pipeline::build(&avc.record, out_width, out_height)?;
    pipeline.run(keyframe.data.clone())
}

/// Whether an access unit (4-byte length-prefixed NAL units) holds an IDR slice.
fn has_idr(mut access_unit: &[u8]) -> bool {
    while let Some((len, rest)) = access_unit.split_first_chunk::<4>() {
        let Some(nal) = usize::try_from(u32::from_be_bytes(*len))
            .ok()
            .and_then(|len| rest.get(..len))
        else {
            return false;
        };
        if nal_unit_type(nal) == Some(nal_type::IDR) {
            return true;
        }
        access_unit = &rest[nal.len()..];
    }
    false
}

/// One poster pipeline; stopped when dropped.
struct Pipeline {
    pipeline: gst::Pipeline,
    appsrc: AppSrc,
    appsink: AppSink,
}

impl Pipeline {
    fn build(record: &Bytes, width: u32, height: u32) -> Result<Self, ThumbnailError> {
        let description = format!(
            "appsrc name=src format=time ! avdec_h264 ! videoscale ! videoconvert \
             ! video/x-raw,width={width},height={height},pixel-aspect-ratio=1/1 \
             ! jpegenc ! appsink name=sink sync=false wait-on-eos=false"
        );
        let pipeline = gst::parse::launch(&description)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| ThumbnailError::Element("pipeline"))?;
        let appsrc = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<AppSrc>().ok())
            .ok_or(ThumbnailError::Element("appsrc"))?;
        let appsink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<AppSink>().ok())
            .ok_or(ThumbnailError::Element("appsink"))?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(record.clone()))
            .build();
        appsrc.set_caps(Some(&caps));
        Ok(Self {
            pipeline,
            appsrc,
            appsink,
        })
    }

    /// Decodes `access_unit` (length-prefixed NAL units) and returns the JPEG.
    fn run(self, access_unit: Bytes) -> Result<Bytes, ThumbnailError> {
        self.pipeline.set_state(gst::State::Playing)?;
        let mut buffer = gst::Buffer::from_slice(access_unit);
        if let Some(buffer) = buffer.get_mut() {
            buffer.set_pts(gst::ClockTime::ZERO);
        }
        // Both fail only once the pipeline has; the bus then says why.
        let _ = self.appsrc.push_buffer(buffer);
        let _ = self.appsrc.end_of_stream();
        let bus = self.pipeline.bus().ok_or(ThumbnailError::Element("bus"))?;
        let done = [gst::MessageType::Eos, gst::MessageType::Error];
        match bus
            .timed_pop_filtered(TIMEOUT, &done)
            .as_ref()
            .map(|m| m.view())
        {
            Some(gst::MessageView::Error(e)) => {
                return Err(ThumbnailError::Decode(e.error().to_string()));
            }
            Some(_) => {}
            None => return Err(ThumbnailError::Timeout),
        }
        let sample = self
            .appsink
            .try_pull_sample(gst::ClockTime::ZERO)
            .ok_or(ThumbnailError::NoPicture)?;
        let buffer = sample.buffer_owned().ok_or(ThumbnailError::NoPicture)?;
        buffer
            .into_mapped_buffer_readable()
            .map(Bytes::from_owner)
            .map_err(|_| ThumbnailError::NoPicture)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Stopping can only fail for elements already broken; nothing is left to do then.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
