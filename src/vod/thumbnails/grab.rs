//! Frames of a source at chosen moments: `playbin` (video only) paused on
//! each keyframe at or before the moment, turned upright and scaled, as RGB.
//! The seeks are key-unit trick mode: the demuxer passes keyframes only.
//! The pipeline decodes ahead while it waits paused, and after a plain
//! key-unit seek that was about fifty frames of the GOP per tile; now it is
//! about three keyframes.

use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app::AppSink;

/// One seek and its frame; a slow remote source gets this long.
const SEEK_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(30);

#[derive(Debug, thiserror::Error)]
pub enum GrabError {
    #[error("{0}")]
    Init(String),
    #[error("building the pipeline: {0}")]
    Build(String),
    #[error("reading the source: {0}")]
    Read(String),
    #[error("no frame after {0}")]
    Timeout(gst::ClockTime),
}

/// An RGB frame, `width * height * 3` bytes.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

pub struct Grabber {
    playbin: gst::Element,
    sink: AppSink,
}

impl Grabber {
    /// Opens `uri`, its pictures upright and fitted to `width` x `height`.
    pub fn open(uri: &str, width: u32, height: u32) -> Result<Grabber, GrabError> {
        crate::gst_init::init().map_err(GrabError::Init)?;
        let build = |e: &dyn std::fmt::Display| GrabError::Build(e.to_string());
        let sink = AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", "RGB")
                    .field("width", i32::try_from(width).unwrap_or(i32::MAX))
                    .field("height", i32::try_from(height).unwrap_or(i32::MAX))
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            )
            .sync(false)
            .max_buffers(1)
            .build();
        let bin = gst::Bin::new();
        let flip = gst::ElementFactory::make("videoflip")
            .property_from_str("video-direction", "auto")
            .build()
            .map_err(|e| build(&e))?;
        let convert = gst::ElementFactory::make("videoconvert")
            .build()
            .map_err(|e| build(&e))?;
        let scale = gst::ElementFactory::make("videoscale")
            .build()
            .map_err(|e| build(&e))?;
        // Scaled before it is converted: RGB conversion at the poster's size,
        // not the source's.
        bin.add_many([&flip, &scale, &convert, sink.upcast_ref()])
            .map_err(|e| build(&e))?;
        gst::Element::link_many([&flip, &scale, &convert, sink.upcast_ref()])
            .map_err(|e| build(&e))?;
        let pad = flip
            .static_pad("sink")
            .ok_or_else(|| GrabError::Build("videoflip without a sink pad".into()))?;
        bin.add_pad(&gst::GhostPad::with_target(&pad).map_err(|e| build(&e))?)
            .map_err(|e| build(&e))?;
        // A sink for the audio it never plays, so that playbin does not probe
        // the machine's sound devices.
        let no_audio = gst::ElementFactory::make("fakesink")
            .build()
            .map_err(|e| build(&e))?;
        let playbin = gst::ElementFactory::make("playbin")
            .property("uri", uri)
            .property("video-sink", &bin)
            .property("audio-sink", &no_audio)
            .build()
            .map_err(|e| build(&e))?;
        // Video only (no audio decoding, no subtitles).
        playbin.set_property_from_str("flags", "video");
        let grabber = Grabber { playbin, sink };
        grabber
            .playbin
            .set_state(gst::State::Paused)
            .map_err(|e| GrabError::Read(e.to_string()))?;
        grabber.wait_preroll()?;
        Ok(grabber)
    }

    /// The frame of the keyframe at or before `at`.
    pub fn frame_at(&self, at: Duration) -> Result<Picture, GrabError> {
        let position =
            gst::ClockTime::from_nseconds(u64::try_from(at.as_nanos()).unwrap_or(u64::MAX));
        self.playbin
            .seek_simple(
                gst::SeekFlags::FLUSH
                    | gst::SeekFlags::KEY_UNIT
                    | gst::SeekFlags::SNAP_BEFORE
                    | gst::SeekFlags::TRICKMODE_KEY_UNITS,
                position,
            )
            .map_err(|e| GrabError::Read(format!("seeking to {position}: {e}")))?;
        self.wait_preroll()?;
        let sample = self
            .sink
            .try_pull_preroll(SEEK_TIMEOUT)
            .ok_or(GrabError::Timeout(SEEK_TIMEOUT))?;
        picture_of(&sample)
    }

    /// Waits for the pipeline to settle in PAUSED (after opening or a seek).
    fn wait_preroll(&self) -> Result<(), GrabError> {
        let bus = self
            .playbin
            .bus()
            .ok_or_else(|| GrabError::Build("no bus".into()))?;
        let done = [gst::MessageType::AsyncDone, gst::MessageType::Error];
        match bus
            .timed_pop_filtered(SEEK_TIMEOUT, &done)
            .as_ref()
            .map(|m| m.view())
        {
            Some(gst::MessageView::Error(e)) => Err(GrabError::Read(e.error().to_string())),
            Some(_) => Ok(()),
            None => Err(GrabError::Timeout(SEEK_TIMEOUT)),
        }
    }
}

impl Drop for Grabber {
    fn drop(&mut self) {
        let _ = self.playbin.set_state(gst::State::Null);
    }
}

/// The RGB picture of a sample of `video/x-raw,format=RGB`.
pub fn picture_of(sample: &gst::Sample) -> Result<Picture, GrabError> {
    let caps = sample
        .caps()
        .and_then(|caps| caps.structure(0).map(|s| s.to_owned()));
    let (Some(caps), Some(buffer)) = (caps, sample.buffer()) else {
        return Err(GrabError::Read("a frame without caps or data".into()));
    };
    let width = caps.get::<i32>("width").unwrap_or(0).max(0) as u32;
    let height = caps.get::<i32>("height").unwrap_or(0).max(0) as u32;
    let map = buffer
        .map_readable()
        .map_err(|e| GrabError::Read(e.to_string()))?;
    // Rows are padded to 4 bytes.
    let stride = (width as usize * 3).div_ceil(4) * 4;
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for row in 0..height as usize {
        let start = row * stride;
        let Some(line) = map.get(start..start + width as usize * 3) else {
            return Err(GrabError::Read("a frame shorter than its size".into()));
        };
        rgb.extend_from_slice(line);
    }
    Ok(Picture { width, height, rgb })
}

/// A JPEG of an RGB picture.
pub fn jpeg(picture: &Picture, quality: i32) -> Result<Vec<u8>, GrabError> {
    let build = |e: &dyn std::fmt::Display| GrabError::Build(e.to_string());
    let description = format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={},height={},framerate=0/1,pixel-aspect-ratio=1/1 \
         ! videoconvert ! jpegenc quality={quality} ! appsink name=sink sync=false",
        picture.width, picture.height
    );
    let pipeline = gst::parse::launch(&description)
        .map_err(|e| build(&e))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| GrabError::Build("not a pipeline".into()))?;
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gstreamer_app::AppSrc>().ok())
        .ok_or_else(|| GrabError::Build("no appsrc".into()))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<AppSink>().ok())
        .ok_or_else(|| GrabError::Build("no appsink".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| build(&e))?;
    // RGB rows padded to 4 bytes, as the caps imply.
    let stride = (picture.width as usize * 3).div_ceil(4) * 4;
    let mut padded = vec![0u8; stride * picture.height as usize];
    for (row, line) in picture
        .rgb
        .chunks_exact(picture.width as usize * 3)
        .enumerate()
    {
        padded[row * stride..row * stride + line.len()].copy_from_slice(line);
    }
    let mut buffer = gst::Buffer::from_mut_slice(padded);
    if let Some(buffer) = buffer.get_mut() {
        buffer.set_pts(gst::ClockTime::ZERO);
    }
    let pushed = src.push_buffer(buffer).and_then(|_| src.end_of_stream());
    let sample = sink.try_pull_sample(SEEK_TIMEOUT);
    let _ = pipeline.set_state(gst::State::Null);
    pushed.map_err(|e| GrabError::Read(format!("encoding a JPEG: {e:?}")))?;
    let sample = sample.ok_or(GrabError::Timeout(SEEK_TIMEOUT))?;
    let buffer = sample
        .buffer()
        .ok_or_else(|| GrabError::Read("an empty JPEG".into()))?;
    let map = buffer
        .map_readable()
        .map_err(|e| GrabError::Read(e.to_string()))?;
    Ok(map.to_vec())
}
