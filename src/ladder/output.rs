//! A rung's appsink: encoded samples become [`LadderEvent`]s (a config when
//! the encoder's caps change, then AVCC frames with the source's pts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer_app as gst_app;
use ingest::h264::{H264Error, codec_string, parse_avcc};
use ingest::{Frame, TrackKind, VideoCodec, VideoConfig};
use tokio::sync::mpsc::UnboundedSender;

use super::event::LadderEvent;
use super::push_log::PushLog;
use super::timebase::TimeBase;

/// No latency measured yet.
const NO_LATENCY: u64 = u64::MAX;

/// Output state of one rung that outlives pipeline restarts.
#[derive(Debug)]
pub(crate) struct RungOutput {
    name: Arc<str>,
    /// The avcC last announced.
    record: Mutex<Option<Bytes>>,
    latency_ms: AtomicU64,
}

impl RungOutput {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name: name.into(),
            record: Mutex::new(None),
            latency_ms: AtomicU64::new(NO_LATENCY),
        }
    }

    /// Push-to-output time of the latest frame, in milliseconds.
    pub(crate) fn latency_ms(&self) -> Option<u64> {
        Some(self.latency_ms.load(Ordering::Relaxed)).filter(|&ms| ms != NO_LATENCY)
    }
}

/// Why an encoded sample could not be passed on.
#[derive(Debug, thiserror::Error)]
enum OutputError {
    #[error("sample without caps or buffer")]
    Incomplete,
    #[error("encoder caps without codec_data")]
    NoCodecData,
    #[error("encoder avcC: {0}")]
    Avcc(#[from] H264Error),
    #[error("encoder uses {0}-byte NAL lengths")]
    NalLength(u8),
    #[error("buffer without a pts in its segment")]
    NoPts,
    #[error("buffer not readable")]
    Unreadable,
}

/// Everything an appsink callback needs.
pub(crate) struct Output {
    pub(crate) rung: Arc<RungOutput>,
    pub(crate) timebase: Arc<OnceLock<TimeBase>>,
    pub(crate) log: Arc<Mutex<PushLog>>,
    pub(crate) events: UnboundedSender<LadderEvent>,
}

impl Output {
    /// The appsink callbacks: each sample is sent as events.
    pub(crate) fn callbacks(self) -> gst_app::AppSinkCallbacks {
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                match self.sample(&sample) {
                    Ok(true) => Ok(gst::FlowSuccess::Ok),
                    // Nobody listens any more.
                    Ok(false) => Err(gst::FlowError::Eos),
                    Err(e) => {
                        tracing::error!(rung = %self.rung.name, "ladder output: {e}");
                        Err(gst::FlowError::Error)
                    }
                }
            })
            .build()
    }

    /// Sends the sample's events; `false` when the receiver is gone.
    fn sample(&self, sample: &gst::Sample) -> Result<bool, OutputError> {
        let (Some(caps), Some(buffer)) = (sample.caps(), sample.buffer_owned()) else {
            return Err(OutputError::Incomplete);
        };
        if let Some(config) = self.new_config(caps)? {
            let event = LadderEvent::Config {
                rung: self.rung.name.clone(),
                config,
            };
            if self.events.send(event).is_err() {
                return Ok(false);
            }
        }
        // Encoders shift their output segment (x264enc by 1000 hours, to
        // leave room for negative dts): the running time is the input pts.
        let running_time = sample
            .segment()
            .and_then(|segment| segment.downcast_ref::<gst::ClockTime>())
            .zip(buffer.pts())
            .and_then(|(segment, pts)| segment.to_running_time(pts));
        let (Some(time), Some(timebase)) = (running_time, self.timebase.get()) else {
            return Err(OutputError::NoPts);
        };
        let pts = timebase.to_ticks(time);
        if let Some(pushed) = self
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pts)
        {
            let ms = u64::try_from(pushed.at.elapsed().as_millis()).unwrap_or(NO_LATENCY - 1);
            self.rung.latency_ms.store(ms, Ordering::Relaxed);
        }
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        // The frame keeps the encoder's buffer alive: no copy.
        let mapped = buffer
            .into_mapped_buffer_readable()
            .map_err(|_| OutputError::Unreadable)?;
        let data = Bytes::from_owner(mapped);
        let frame = Frame {
            kind: TrackKind::Video,
            dts: pts,
            pts,
            keyframe,
            data,
        };
        Ok(self
            .events
            .send(LadderEvent::Frame {
                rung: self.rung.name.clone(),
                frame,
            })
            .is_ok())
    }

    /// The rung's config if the caps carry a different avcC than last sent.
    fn new_config(&self, caps: &gst::CapsRef) -> Result<Option<VideoConfig>, OutputError> {
        let codec_data = caps
            .structure(0)
            .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
            .ok_or(OutputError::NoCodecData)?;
        let map = codec_data
            .map_readable()
            .map_err(|_| OutputError::Unreadable)?;
        let mut last = self
            .rung
            .record
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.as_deref() == Some(map.as_slice()) {
            return Ok(None);
        }
        let record = Bytes::copy_from_slice(&map);
        let avc = parse_avcc(&record)?;
        if avc.nal_length_size != 4 {
            return Err(OutputError::NalLength(avc.nal_length_size));
        }
        *last = Some(record);
        Ok(Some(VideoConfig {
            codec: VideoCodec::H264,
            record: avc.record,
            width: avc.sps.width,
            height: avc.sps.height,
            codec_string: codec_string(&avc.sps),
        }))
    }
}
