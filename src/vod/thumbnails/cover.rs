//! The poster of an audio file: its cover art when it carries one (an image
//! tag: ID3 `APIC`, MP4 `covr`, a FLAC picture), else a drawing of its
//! waveform, from one read of the file.

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app::{AppSink, AppSrc};

use super::grab::{GrabError, Picture, picture_of};
use super::storyboard;
use super::waveform::Peaks;

/// The waveform is measured on this many samples a second, mono.
const RATE: usize = 8000;
/// Samples per measured block: 10 ms.
const BLOCK: usize = RATE / 100;
/// The waveform picture (16:9, as the player's box).
const WAVEFORM: (u32, u32) = (1280, 720);
/// The longest wait for the next block of audio or the cover's decoding.
const READ_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(30);

fn build(e: &dyn std::fmt::Display) -> GrabError {
    GrabError::Build(e.to_string())
}

/// The poster of the audio file at `uri`, at most `max` pixels a side.
pub fn audio_poster(uri: &str, max: u32) -> Result<Picture, GrabError> {
    crate::gst_init::init().map_err(GrabError::Init)?;
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin name=src caps=audio/x-raw ! audioconvert ! audioresample \
         ! audio/x-raw,format=S16LE,channels=1,rate={RATE} ! appsink name=sink sync=false"
    ))
    .map_err(|e| build(&e))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| GrabError::Build("not a pipeline".into()))?;
    let running = Running(pipeline.clone());
    pipeline
        .by_name("src")
        .ok_or_else(|| GrabError::Build("no uridecodebin".into()))?
        .set_property("uri", uri);
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<AppSink>().ok())
        .ok_or_else(|| GrabError::Build("no appsink".into()))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| GrabError::Build("no bus".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| GrabError::Read(e.to_string()))?;
    let mut peaks = Peaks::new(BLOCK);
    loop {
        // Tags come before the samples after them: the cover, if any, is
        // known after the first sample.
        while let Some(message) =
            bus.pop_filtered(&[gst::MessageType::Tag, gst::MessageType::Error])
        {
            match message.view() {
                gst::MessageView::Tag(tag) => {
                    if let Some(cover) = cover_art(&tag.tags()) {
                        drop(running);
                        return decoded(&cover, max);
                    }
                }
                gst::MessageView::Error(e) => return Err(GrabError::Read(e.error().to_string())),
                _ => {}
            }
        }
        match sink.try_pull_sample(READ_TIMEOUT) {
            Some(sample) => {
                if let Some(buffer) = sample.buffer() {
                    let map = buffer
                        .map_readable()
                        .map_err(|e| GrabError::Read(e.to_string()))?;
                    peaks.push(
                        map.chunks_exact(2)
                            .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
                    );
                }
            }
            None if sink.is_eos() => break,
            None => return Err(GrabError::Timeout(READ_TIMEOUT)),
        }
    }
    if peaks.is_empty() {
        return Err(GrabError::Read("no audio decoded".into()));
    }
    let (width, height) = storyboard::fit(WAVEFORM.0, WAVEFORM.1, max);
    Ok(peaks.picture(width, height))
}

/// Stops a pipeline when dropped.
struct Running(gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// The front cover, or any picture the tags carry.
fn cover_art(tags: &gst::TagListRef) -> Option<gst::Sample> {
    tags.get::<gst::tags::Image>()
        .or_else(|| tags.get::<gst::tags::PreviewImage>())
        .map(|value| value.get().to_owned())
}

/// An image file (JPEG, PNG, …) in a sample, decoded and fitted to `max`.
fn decoded(image: &gst::Sample, max: u32) -> Result<Picture, GrabError> {
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time ! decodebin ! videoconvert \
         ! video/x-raw,format=RGB ! appsink name=sink sync=false",
    )
    .map_err(|e| build(&e))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| GrabError::Build("not a pipeline".into()))?;
    let _running = Running(pipeline.clone());
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<AppSrc>().ok())
        .ok_or_else(|| GrabError::Build("no appsrc".into()))?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<AppSink>().ok())
        .ok_or_else(|| GrabError::Build("no appsink".into()))?;
    if let Some(caps) = image.caps() {
        src.set_caps(Some(&caps.to_owned()));
    }
    let buffer = image
        .buffer_owned()
        .ok_or_else(|| GrabError::Read("an empty cover".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| GrabError::Read(e.to_string()))?;
    src.push_buffer(buffer)
        .and_then(|_| src.end_of_stream())
        .map_err(|e| GrabError::Read(format!("decoding the cover: {e:?}")))?;
    let sample = sink
        .try_pull_sample(READ_TIMEOUT)
        .ok_or(GrabError::Timeout(READ_TIMEOUT))?;
    let picture = picture_of(&sample)?;
    let (width, height) = storyboard::fit(picture.width, picture.height, max);
    if (width, height) == (picture.width, picture.height) {
        return Ok(picture);
    }
    Ok(Picture {
        rgb: storyboard::downscale(&picture.rgb, picture.width, picture.height, width, height),
        width,
        height,
    })
}
