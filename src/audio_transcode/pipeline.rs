//! The GStreamer pipeline of one transcoder: what goes into the appsrc, the
//! decoder for the source codec and the AAC format chosen for the output.

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSink, AppSrc};
use ingest::opus::{OPUS_SAMPLE_RATE, OpusError, parse_channels};
use ingest::{AudioCodec, AudioConfig};

use super::TranscodeError;

/// Sampling rates AAC can signal by index (ISO/IEC 14496-3 table 1.18).
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];
/// The output rate when the source's cannot be kept.
const DEFAULT_RATE: u32 = 48_000;
/// AAC bitrate per output channel: 128 kbit/s for stereo.
const BITRATE_PER_CHANNEL: u32 = 64_000;
/// An OpusTags header with no vendor string and no comments (RFC 7845 5.2);
/// `opusdec` takes its configuration from a header pair.
const EMPTY_OPUS_TAGS: &[u8] = b"OpusTags\0\0\0\0\0\0\0\0";

/// The raw audio the encoder is fed: the source's rate when AAC can carry
/// it (Opus always decodes at 48 kHz), mono kept mono, anything else stereo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutputFormat {
    pub rate: u32,
    pub channels: u32,
}

impl OutputFormat {
    pub(super) fn for_source(source: &AudioConfig) -> Self {
        let rate = match source.codec {
            AudioCodec::Opus => OPUS_SAMPLE_RATE,
            _ if AAC_RATES.contains(&source.sample_rate) => source.sample_rate,
            _ => DEFAULT_RATE,
        };
        let channels = if source.channels == 1 { 1 } else { 2 };
        Self { rate, channels }
    }

    fn bitrate(&self) -> u32 {
        BITRATE_PER_CHANNEL * self.channels
    }
}

/// A built (not yet started) pipeline and its two ends.
pub(super) struct Pipeline {
    pub pipeline: gst::Pipeline,
    pub appsrc: AppSrc,
    pub appsink: AppSink,
}

/// Builds `appsrc ! decoder ! audioconvert ! audioresample ! avenc_aac ! appsink`.
pub(super) fn build(
    source: &AudioConfig,
    format: OutputFormat,
) -> Result<Pipeline, TranscodeError> {
    let (caps, decoder) = source_caps(source)?;
    let description = format!(
        "appsrc name=src format=time max-bytes=0 ! {decoder} \
         ! audioconvert ! audioresample \
         ! audio/x-raw,rate={rate},channels={channels} \
         ! avenc_aac bitrate={bitrate} \
         ! appsink name=sink sync=false caps=audio/mpeg,mpegversion=4,stream-format=raw",
        rate = format.rate,
        channels = format.channels,
        bitrate = format.bitrate(),
    );
    let pipeline = gst::parse::launch(&description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| TranscodeError::Element("pipeline"))?;
    let appsrc = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<AppSrc>().ok())
        .ok_or(TranscodeError::Element("appsrc"))?;
    let appsink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<AppSink>().ok())
        .ok_or(TranscodeError::Element("appsink"))?;
    appsrc.set_caps(Some(&caps));
    Ok(Pipeline {
        pipeline,
        appsrc,
        appsink,
    })
}

/// The appsrc caps and the decoding chain for the source codec.
fn source_caps(source: &AudioConfig) -> Result<(gst::Caps, &'static str), TranscodeError> {
    match source.codec {
        AudioCodec::Opus => Ok((opus_caps(&source.record)?, "opusdec")),
        // Frames carry their own headers; the parser finds layer, rate and
        // channels and resynchronises after damaged frames.
        AudioCodec::Mp3 => Ok((
            gst::Caps::builder("audio/mpeg")
                .field("mpegversion", 1i32)
                .build(),
            "mpegaudioparse ! mpg123audiodec",
        )),
        AudioCodec::Aac => Err(TranscodeError::AlreadyAac),
    }
}

/// Caps for Opus with the given OpusHead: `opusdec` wants the channel
/// mapping in fields and takes the rest (pre-skip, gain) from the header.
fn opus_caps(head: &Bytes) -> Result<gst::Caps, OpusError> {
    let channels = parse_channels(head)?;
    let family = head.get(18).copied().ok_or(OpusError::Truncated)?;
    let mut caps = gst::Caps::builder("audio/x-opus")
        .field("rate", OPUS_SAMPLE_RATE as i32)
        .field("channels", i32::from(channels))
        .field("channel-mapping-family", i32::from(family));
    if family != 0 {
        let streams = head.get(19..21).ok_or(OpusError::Truncated)?;
        caps = caps
            .field("stream-count", i32::from(streams[0]))
            .field("coupled-count", i32::from(streams[1]));
    }
    let header = [
        gst::Buffer::from_slice(head.clone()),
        gst::Buffer::from_slice(EMPTY_OPUS_TAGS),
    ];
    Ok(caps.field("streamheader", gst::Array::new(header)).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(codec: AudioCodec, sample_rate: u32, channels: u8) -> AudioConfig {
        AudioConfig {
            codec,
            record: Bytes::new(),
            sample_rate,
            channels,
            codec_string: String::new(),
        }
    }

    #[test]
    fn keeps_aac_rates_and_mono() {
        let format = |c, r, ch| OutputFormat::for_source(&config(c, r, ch));
        let expect = |rate, channels| OutputFormat { rate, channels };
        assert_eq!(format(AudioCodec::Opus, 16_000, 1), expect(48_000, 1));
        assert_eq!(format(AudioCodec::Mp3, 44_100, 2), expect(44_100, 2));
        assert_eq!(format(AudioCodec::Mp3, 22_050, 1), expect(22_050, 1));
        assert_eq!(format(AudioCodec::Mp3, 44_100, 6), expect(44_100, 2));
        assert_eq!(format(AudioCodec::Mp3, 5_000, 2), expect(48_000, 2));
        assert_eq!(expect(48_000, 2).bitrate(), 128_000);
    }
}
