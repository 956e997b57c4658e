//! The one GStreamer pipeline that reads the source:
//!
//! ```text
//! urisourcebin ! parsebin ─┬─ video: queue ! h264parse ! appsink                  (H.264 as it is)
//!                          │     or: queue ! decodebin ! videoflip ! videoconvert
//!                          │         ! videoscale ! videorate ! I420 WxH ! appsink    (decoded)
//!                          ├─ audio: queue ! tee ─┬─ queue ! aacparse ! appsink    (AAC as it is)
//!                          │                      └─ queue ! decodebin ! audioconvert
//!                          │                         ! audioresample ! avenc_aac ! appsink
//!                          └─ anything else: fakesink
//! ```
//!
//! Appsinks hand their samples to the caller's thread over a bounded
//! channel ([`Msg`]), so a slow consumer holds the source back instead of
//! buffering it; so do the bus's end of stream and errors.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

use crate::ladder::ScaleMethod;
use crate::ladder::colorimetry;

/// What the pipeline tells the thread that writes the renditions.
#[derive(Debug)]
pub enum Msg {
    /// The video stream's avcC, and frame rate when the caps say.
    VideoCaps {
        record: Bytes,
        frame_rate: Option<(u32, u32)>,
    },
    /// The caps of the decoded frames from now on.
    RawCaps(gst::Caps),
    /// One decoded frame, presented at `pts` (ns of running time).
    Raw {
        pts: i64,
        buffer: gst::Buffer,
    },
    /// One H.264 access unit (AVCC), times in ns of running time.
    Video {
        pts: i64,
        dts: i64,
        keyframe: bool,
        data: Bytes,
    },
    /// The AudioSpecificConfig of audio output `index`.
    AudioCaps {
        index: usize,
        record: Bytes,
    },
    /// One raw AAC frame of audio output `index`.
    Audio {
        index: usize,
        pts: i64,
        data: Bytes,
    },
    /// Every stream of the source was seen: whether it has video and
    /// audio (the caps names of the ones used).
    Streams {
        video: Option<String>,
        audio: Option<String>,
    },
    Failed(Failure),
    Eos,
}

/// Why reading the source failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What becomes of the source's video.
#[derive(Debug, Clone)]
pub enum VideoPlan {
    /// Not used.
    None,
    /// The H.264 access units as they are (anything else is `unsupported`).
    Demux,
    /// Decoded, turned upright, 8-bit 4:2:0, capped at `max_fps` and
    /// scaled to `width`×`height` with `scale`.
    Decode {
        width: u32,
        height: u32,
        max_fps: u32,
        scale: ScaleMethod,
    },
}

/// What becomes of the source's audio: one output per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPlan {
    /// The AAC frames as they are (anything else is `unsupported`).
    Copy,
    /// Decoded and encoded to AAC-LC at this bitrate.
    Encode { bitrate_kbps: u32 },
}

/// Messages in flight from the source pipeline: it waits beyond this.
/// (Decoded frames are among them: a few dozen megabytes at 1080p.)
const CHANNEL_DEPTH: usize = 16;

/// A running source pipeline and what it sends; dropping it stops it.
pub struct Source {
    pipeline: gst::Pipeline,
    messages: Receiver<Msg>,
}

impl Source {
    pub fn messages(&self) -> &Receiver<Msg> {
        &self.messages
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // The channel closes first: a streaming thread blocked on a full
        // channel (a reader that stopped early) then returns, instead of
        // holding the state change below forever.
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.messages, closed));
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Compressed data queued per stream: enough for any interleaving of
/// audio and video, still bounded.
const QUEUE_NS: u64 = 10_000_000_000;
const QUEUE_BYTES: u32 = 64 << 20;
/// Sampling rates AAC signals by index, the usual ones first.
const AAC_RATES: &str =
    "{ 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 96000, 88200, 64000 }";
/// libavcodec's AAC encoder delay (priming), in samples.
const AAC_ENCODER_DELAY: u64 = 1024;

struct Context {
    pipeline: gst::Pipeline,
    tx: SyncSender<Msg>,
    video: VideoPlan,
    audio: Vec<AudioPlan>,
    /// A stream was linked: errors from now on are not `not_media`.
    started: Arc<AtomicBool>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    video: Option<String>,
    audio: Option<String>,
}

impl Context {
    fn fail(&self, failure: Failure) {
        let _ = self.tx.send(Msg::Failed(failure));
    }

    fn make(&self, factory: &str) -> Result<gst::Element, Failure> {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|e| Failure::new("worker_error", format!("GStreamer {factory}: {e}")))
    }

    fn queue(&self) -> Result<gst::Element, Failure> {
        gst::ElementFactory::make("queue")
            .property("max-size-buffers", 0u32)
            .property("max-size-bytes", QUEUE_BYTES)
            .property("max-size-time", QUEUE_NS)
            .build()
            .map_err(|e| Failure::new("worker_error", format!("GStreamer queue: {e}")))
    }

    fn caps_filter(&self, caps: &str) -> Result<gst::Element, Failure> {
        let caps: gst::Caps = caps
            .parse()
            .map_err(|_| Failure::new("worker_error", format!("bad caps {caps}")))?;
        gst::ElementFactory::make("capsfilter")
            .property("caps", caps)
            .build()
            .map_err(|e| Failure::new("worker_error", format!("GStreamer capsfilter: {e}")))
    }

    /// Adds `chain` to the pipeline, links it in order (a `decodebin` to
    /// what follows it once its pad appears), starts it; returns its first
    /// element's sink pad.
    fn add_chain(&self, chain: &[gst::Element]) -> Result<gst::Pad, Failure> {
        let error = |e: &dyn std::fmt::Display| Failure::new("worker_error", format!("{e}"));
        self.pipeline.add_many(chain).map_err(|e| error(&e))?;
        for pair in chain.windows(2) {
            let (upstream, downstream) = (&pair[0], &pair[1]);
            let dynamic = upstream.factory().is_some_and(|f| f.name() == "decodebin");
            if dynamic {
                let downstream = downstream.clone();
                upstream.connect_pad_added(move |_, pad| {
                    if let Some(sink) = downstream.static_pad("sink")
                        && !sink.is_linked()
                        && let Err(e) = pad.link(&sink)
                    {
                        tracing::warn!("linking a decoder: {e:?}");
                    }
                });
            } else {
                upstream.link(downstream).map_err(|e| error(&e))?;
            }
        }
        for element in chain {
            element.sync_state_with_parent().map_err(|e| error(&e))?;
        }
        chain
            .first()
            .and_then(|first| first.static_pad("sink"))
            .ok_or_else(|| Failure::new("worker_error", "chain without a sink pad"))
    }

    /// A new stream of the source: used or discarded.
    fn pad_added(self: &Arc<Self>, pad: &gst::Pad) {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        tracing::debug!(%caps, "source stream");
        let result = if name.starts_with("video/") || name.starts_with("image/") {
            let first = {
                let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                let first = seen.video.is_none() && !name.starts_with("image/");
                if first {
                    seen.video = Some(name.clone());
                }
                first
            };
            if first && !matches!(self.video, VideoPlan::None) {
                self.video_branch(pad, &name)
            } else {
                self.discard(pad)
            }
        } else if name.starts_with("audio/") {
            let first = {
                let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                let first = seen.audio.is_none();
                if first {
                    seen.audio = Some(name.clone());
                }
                first
            };
            if first && !self.audio.is_empty() {
                self.audio_branch(pad, &caps)
            } else {
                self.discard(pad)
            }
        } else {
            self.discard(pad)
        };
        self.started.store(true, Ordering::Relaxed);
        if let Err(failure) = result {
            self.fail(failure);
        }
    }

    fn discard(&self, pad: &gst::Pad) -> Result<(), Failure> {
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .map_err(|e| Failure::new("worker_error", format!("fakesink: {e}")))?;
        // Behind a queue: a stream nobody wants never holds up the
        // demuxer's thread, which also feeds the streams that are used.
        let sink_pad = self.add_chain(&[self.queue()?, sink])?;
        pad.link(&sink_pad)
            .map(|_| ())
            .map_err(|e| Failure::new("worker_error", format!("linking: {e:?}")))
    }

    fn video_branch(&self, pad: &gst::Pad, name: &str) -> Result<(), Failure> {
        let chain = match &self.video {
            VideoPlan::None => return self.discard(pad),
            VideoPlan::Demux => {
                if name != "video/x-h264" {
                    return Err(Failure::new(
                        "unsupported",
                        format!("the source's video is {name}, not H.264: it cannot be copied"),
                    ));
                }
                watch_rotation(pad, self.tx.clone());
                vec![
                    self.queue()?,
                    self.make("h264parse")?,
                    self.caps_filter("video/x-h264,stream-format=avc,alignment=au")?,
                    self.video_sink().upcast(),
                ]
            }
            VideoPlan::Decode {
                width,
                height,
                max_fps,
                scale,
            } => {
                let flip = gst::ElementFactory::make("videoflip")
                    .property_from_str("video-direction", "auto")
                    .build()
                    .map_err(|e| Failure::new("worker_error", format!("videoflip: {e}")))?;
                // Else scaling below 720 lines would convert to BT.601.
                if let Some(pad) = flip.static_pad("sink") {
                    colorimetry::make_explicit(&pad);
                }
                let rate = gst::ElementFactory::make("videorate")
                    .property("max-rate", i32::try_from(*max_fps).unwrap_or(i32::MAX))
                    .build()
                    .map_err(|e| Failure::new("worker_error", format!("videorate: {e}")))?;
                no_frames_past_the_end(&rate);
                let size = self.caps_filter(&format!(
                    "video/x-raw,format=I420,width={width},height={height},pixel-aspect-ratio=1/1"
                ))?;
                let scale = gst::ElementFactory::make("videoscale")
                    .property_from_str("method", scale.gst_nick())
                    .build()
                    .map_err(|e| Failure::new("worker_error", format!("videoscale: {e}")))?;
                vec![
                    self.queue()?,
                    self.make("decodebin")?,
                    flip,
                    self.make("videoconvert")?,
                    scale,
                    rate,
                    size,
                    self.raw_sink().upcast(),
                ]
            }
        };
        let sink_pad = self.add_chain(&chain)?;
        pad.link(&sink_pad)
            .map(|_| ())
            .map_err(|e| Failure::new("worker_error", format!("linking the video: {e:?}")))
    }

    fn video_sink(&self) -> gst_app::AppSink {
        let tx = self.tx.clone();
        caps_watching_sink(move |sample, caps, changed| {
            let Some(buffer) = sample.buffer() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if changed {
                let Some(msg) = video_caps(caps) else {
                    let _ = tx.send(Msg::Failed(Failure::new(
                        "decode_error",
                        "H.264 without a decoder configuration",
                    )));
                    return Err(gst::FlowError::Error);
                };
                tx.send(msg).map_err(|_| gst::FlowError::Flushing)?;
            }
            let Some(pts) = running_time(sample, buffer.pts()) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            let dts = running_time(sample, buffer.dts()).unwrap_or(pts);
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let data = buffer
                .map_readable()
                .map(|map| Bytes::copy_from_slice(&map))
                .map_err(|_| gst::FlowError::Error)?;
            tx.send(Msg::Video {
                pts,
                dts,
                keyframe,
                data,
            })
            .map_err(|_| gst::FlowError::Flushing)?;
            Ok(gst::FlowSuccess::Ok)
        })
    }

    /// Hands out decoded frames as they are (their memory is not copied).
    fn raw_sink(&self) -> gst_app::AppSink {
        let tx = self.tx.clone();
        caps_watching_sink(move |sample, caps, changed| {
            let Some(buffer) = sample.buffer_owned() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if changed {
                tx.send(Msg::RawCaps(caps.to_owned()))
                    .map_err(|_| gst::FlowError::Flushing)?;
            }
            let Some(pts) = running_time(sample, buffer.pts()) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            tx.send(Msg::Raw { pts, buffer })
                .map_err(|_| gst::FlowError::Flushing)?;
            Ok(gst::FlowSuccess::Ok)
        })
    }

    fn audio_branch(&self, pad: &gst::Pad, caps: &gst::Caps) -> Result<(), Failure> {
        // The caps may not be fixed yet (MPEG-TS): AAC if they can be.
        let is_aac = "audio/mpeg, mpegversion=(int){ 2, 4 }"
            .parse::<gst::Caps>()
            .is_ok_and(|aac| caps.can_intersect(&aac));
        let tee = self.make("tee")?;
        let head = self.add_chain(&[self.queue()?, tee.clone()])?;
        for (index, plan) in self.audio.iter().enumerate() {
            let mut chain = vec![self.queue()?];
            match plan {
                AudioPlan::Copy => {
                    if !is_aac {
                        let name = caps.structure(0).map(|s| s.name().to_string());
                        return Err(Failure::new(
                            "unsupported",
                            format!(
                                "the source's audio is {}, not AAC: it cannot be copied",
                                name.unwrap_or_default()
                            ),
                        ));
                    }
                    chain.push(self.make("aacparse")?);
                }
                AudioPlan::Encode { bitrate_kbps } => {
                    chain.push(self.make("decodebin")?);
                    chain.push(self.make("audioconvert")?);
                    chain.push(self.make("audioresample")?);
                    chain.push(
                        self.caps_filter(&format!("audio/x-raw,channels=[1,2],rate={AAC_RATES}"))?,
                    );
                    let encoder = gst::ElementFactory::make("avenc_aac")
                        .property(
                            "bitrate",
                            i32::try_from(bitrate_kbps * 1000).unwrap_or(128_000),
                        )
                        .build()
                        .map_err(|e| Failure::new("worker_error", format!("avenc_aac: {e}")))?;
                    chain.push(encoder);
                }
            }
            chain.push(self.caps_filter("audio/mpeg,mpegversion=4,stream-format=raw")?);
            let delay = matches!(plan, AudioPlan::Encode { .. });
            chain.push(self.audio_sink(index, delay).upcast());
            let sink_pad = self.add_chain(&chain)?;
            let tee_pad = tee
                .request_pad_simple("src_%u")
                .ok_or_else(|| Failure::new("worker_error", "tee without a pad"))?;
            tee_pad
                .link(&sink_pad)
                .map_err(|e| Failure::new("worker_error", format!("linking the audio: {e:?}")))?;
        }
        pad.link(&head)
            .map(|_| ())
            .map_err(|e| Failure::new("worker_error", format!("linking the audio: {e:?}")))
    }

    /// `delay`: the frames come from avenc_aac, whose priming packet is
    /// dropped and whose timestamps are one frame early.
    fn audio_sink(&self, index: usize, delay: bool) -> gst_app::AppSink {
        let tx = self.tx.clone();
        let mut rate = 48_000u64;
        let mut first_pts: Option<i64> = None;
        caps_watching_sink(move |sample, caps, changed| {
            let Some(buffer) = sample.buffer() else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if changed {
                let structure = caps.structure(0);
                rate = structure
                    .and_then(|s| s.get::<i32>("rate").ok())
                    .and_then(|r| u64::try_from(r).ok())
                    .filter(|r| *r > 0)
                    .unwrap_or(48_000);
                let Some(record) = structure
                    .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
                    .and_then(|b| b.map_readable().ok().map(|m| Bytes::copy_from_slice(&m)))
                else {
                    let _ = tx.send(Msg::Failed(Failure::new(
                        "decode_error",
                        "AAC without an AudioSpecificConfig",
                    )));
                    return Err(gst::FlowError::Error);
                };
                tx.send(Msg::AudioCaps { index, record })
                    .map_err(|_| gst::FlowError::Flushing)?;
            }
            let Some(mut pts) = running_time(sample, buffer.pts()) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            if delay {
                // The first packet is the priming; the rest sound
                // one frame later than stamped.
                let first = *first_pts.get_or_insert(pts);
                pts -= (AAC_ENCODER_DELAY * 1_000_000_000 / rate) as i64;
                if pts < first {
                    return Ok(gst::FlowSuccess::Ok);
                }
            }
            let data = buffer
                .map_readable()
                .map(|map| Bytes::copy_from_slice(&map))
                .map_err(|_| gst::FlowError::Error)?;
            tx.send(Msg::Audio { index, pts, data })
                .map_err(|_| gst::FlowError::Flushing)?;
            Ok(gst::FlowSuccess::Ok)
        })
    }
}

/// An appsink that hands each sample with caps to `on_sample`, with whether
/// its caps differ from the previous sample's.
fn caps_watching_sink(
    mut on_sample: impl FnMut(
        &gst::Sample,
        &gst::CapsRef,
        bool,
    ) -> Result<gst::FlowSuccess, gst::FlowError>
    + Send
    + 'static,
) -> gst_app::AppSink {
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .property("enable-last-sample", false)
        .build();
    let mut last_caps: Option<gst::Caps> = None;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(caps) = sample.caps() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let changed = last_caps
                    .as_ref()
                    .is_none_or(|known| known.as_ref() != caps);
                if changed {
                    last_caps = Some(caps.to_owned());
                }
                on_sample(&sample, caps, changed)
            })
            .build(),
    );
    sink
}

/// The running time (ns) of a buffer time in its sample's segment.
fn running_time(sample: &gst::Sample, time: Option<gst::ClockTime>) -> Option<i64> {
    let time = time?;
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    match segment.to_running_time_full(time)? {
        gst::Signed::Positive(t) => i64::try_from(t.nseconds()).ok(),
        gst::Signed::Negative(t) => i64::try_from(t.nseconds()).ok().map(|t| -t),
    }
}

fn video_caps(caps: &gst::CapsRef) -> Option<Msg> {
    let structure = caps.structure(0)?;
    let record = structure.get::<gst::Buffer>("codec_data").ok()?;
    let record = Bytes::copy_from_slice(&record.map_readable().ok()?);
    let frame_rate = structure
        .get::<gst::Fraction>("framerate")
        .ok()
        .and_then(|f| {
            Some((
                u32::try_from(f.numer()).ok()?,
                u32::try_from(f.denom()).ok()?,
            ))
        })
        .filter(|(num, den)| *num > 0 && *den > 0);
    Some(Msg::VideoCaps { record, frame_rate })
}

/// Fails the run if the source's video is meant to be shown turned: a copy
/// cannot turn it.
fn watch_rotation(pad: &gst::Pad, tx: SyncSender<Msg>) {
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::EventView::Tag(tag)) = info.event().map(|e| e.view()) {
            let orientation = tag
                .tag()
                .get::<gst::tags::ImageOrientation>()
                .map(|t| t.get().to_owned());
            if let Some(orientation) = orientation
                && orientation != "rotate-0"
            {
                let _ = tx.send(Msg::Failed(Failure::new(
                    "unsupported",
                    format!(
                        "the source's video is shown turned ({orientation}): its frames cannot be \
                         copied or encoded at its keyframes; use keyframes every N seconds"
                    ),
                )));
                return gst::PadProbeReturn::Remove;
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `videorate` fills up to the end of the last input frame at the end of
/// the stream: a frame there would open a segment of its own. Frames
/// leaving it at or after the end of every frame that entered are dropped.
fn no_frames_past_the_end(videorate: &gst::Element) {
    let (Some(sink), Some(src)) = (videorate.static_pad("sink"), videorate.static_pad("src"))
    else {
        return;
    };
    let end = Arc::new(AtomicI64::new(i64::MIN));
    let input_end = Arc::clone(&end);
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer()
            && let Some(pts) = buffer.pts()
        {
            let until = pts.nseconds() + buffer.duration().map_or(1, |d| d.nseconds().max(1));
            input_end.fetch_max(i64::try_from(until).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let past = info
            .buffer()
            .and_then(|b| b.pts())
            .and_then(|pts| i64::try_from(pts.nseconds()).ok())
            .is_some_and(|pts| pts >= end.load(Ordering::Relaxed));
        if past {
            gst::PadProbeReturn::Drop
        } else {
            gst::PadProbeReturn::Ok
        }
    });
}

/// Starts reading `uri`; everything it yields arrives on
/// [`Source::messages`].
pub fn start(uri: &str, video: VideoPlan, audio: Vec<AudioPlan>) -> Result<Source, Failure> {
    crate::gst_init::init().map_err(|e| Failure::new("worker_error", e))?;
    let (tx, messages) = sync_channel(CHANNEL_DEPTH);
    let pipeline = gst::Pipeline::new();
    let worker = |e: &dyn std::fmt::Display| Failure::new("worker_error", e.to_string());
    let source = gst::ElementFactory::make("urisourcebin")
        .property("uri", uri)
        .build()
        .map_err(|e| worker(&e))?;
    let parse = gst::ElementFactory::make("parsebin")
        .build()
        .map_err(|e| worker(&e))?;
    pipeline
        .add_many([&source, &parse])
        .map_err(|e| worker(&e))?;
    let started = Arc::new(AtomicBool::new(false));
    let context = Arc::new(Context {
        pipeline: pipeline.clone(),
        tx: tx.clone(),
        video,
        audio,
        started: Arc::clone(&started),
        seen: Mutex::new(Seen::default()),
    });
    {
        let parse = parse.clone();
        let tx = tx.clone();
        source.connect_pad_added(move |_, pad| {
            if let Some(sink) = parse.static_pad("sink")
                && !sink.is_linked()
                && let Err(e) = pad.link(&sink)
            {
                let _ = tx.send(Msg::Failed(Failure::new(
                    "worker_error",
                    format!("linking the source: {e:?}"),
                )));
            }
        });
    }
    {
        let context = Arc::downgrade(&context);
        parse.connect_pad_added(move |_, pad| {
            if let Some(context) = context.upgrade() {
                context.pad_added(pad);
            }
        });
    }
    {
        let weak = Arc::downgrade(&context);
        parse.connect_no_more_pads(move |_| {
            if let Some(context) = weak.upgrade() {
                let seen = context.seen.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = context.tx.send(Msg::Streams {
                    video: seen.video.clone(),
                    audio: seen.audio.clone(),
                });
            }
        });
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| Failure::new("worker_error", "a pipeline without a bus"))?;
    {
        // The context lives as long as the pipeline's signal handlers need it.
        let context = Arc::clone(&context);
        bus.set_sync_handler(move |_, message| {
            match message.view() {
                gst::MessageView::Error(err) => {
                    let element = message
                        .src()
                        .map(|s| s.name().to_string())
                        .unwrap_or_default();
                    let started = context.started.load(Ordering::Relaxed);
                    let code = classify(&err.error(), &element, started);
                    let details = err.debug().map(|d| d.to_string()).unwrap_or_default();
                    tracing::debug!("{element}: {} ({details})", err.error());
                    context.fail(Failure::new(code, format!("{element}: {}", err.error())));
                }
                gst::MessageView::Eos(_) => {
                    let _ = context.tx.send(Msg::Eos);
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
    }
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        Failure::new(
            "source_error",
            format!("the source cannot be opened: {uri}"),
        )
    })?;
    Ok(Source { pipeline, messages })
}

/// The failure code of a pipeline error: what the source is not, or where
/// it broke.
fn classify(error: &gst::glib::Error, element: &str, started: bool) -> &'static str {
    if matches!(
        error.kind::<gst::ResourceError>(),
        Some(
            gst::ResourceError::NotFound
                | gst::ResourceError::OpenRead
                | gst::ResourceError::Read
                | gst::ResourceError::Failed
                | gst::ResourceError::NotAuthorized
        )
    ) {
        return "source_error";
    }
    if error.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin)
        || error.kind::<gst::StreamError>() == Some(gst::StreamError::CodecNotFound)
    {
        return "unsupported";
    }
    if !started {
        return "not_media";
    }
    if element.starts_with("x264enc") || element.starts_with("avenc") {
        return "encode_error";
    }
    "decode_error"
}
