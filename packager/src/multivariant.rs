//! The text of a multivariant (master) playlist, shared by the live and VOD packagers.
//!
//! Audio renditions are alternatives of one group that every video variant refers to; an
//! asset without video lists its audio renditions as the variants themselves, so players
//! that need a variant (Safari, hls.js) still play it.

use std::fmt::{self, Write};

use crate::bitrate::Bandwidth;

/// The one audio group every video variant refers to.
const AUDIO_GROUP: &str = "audio";

/// An audio rendition (`EXT-X-MEDIA`, or a variant of its own when there is no video).
#[derive(Debug, Clone)]
pub(crate) struct AudioEntry<'a> {
    /// `NAME`: unique within the group.
    pub name: &'a str,
    /// `LANGUAGE`, when known.
    pub language: Option<&'a str>,
    pub channels: u8,
    /// RFC 6381 codec string.
    pub codec: &'a str,
    pub bandwidth: Bandwidth,
    /// The media playlist, relative to the multivariant playlist.
    pub uri: String,
}

/// A video variant (`EXT-X-STREAM-INF`).
#[derive(Debug, Clone)]
pub(crate) struct VideoEntry<'a> {
    /// RFC 6381 codec string.
    pub codec: &'a str,
    pub width: u32,
    pub height: u32,
    /// `FRAME-RATE`, left out when unknown.
    pub frame_rate: Option<f64>,
    pub bandwidth: Bandwidth,
    /// The media playlist, relative to the multivariant playlist.
    pub uri: String,
}

/// Writes a multivariant playlist of protocol `version` listing `video` and `audio` in the
/// order given. The first audio rendition is the group's default.
pub(crate) fn multivariant_playlist(
    version: u32,
    video: &[VideoEntry<'_>],
    audio: &[AudioEntry<'_>],
) -> String {
    let mut out = String::with_capacity(128 + 256 * (video.len() + audio.len()));
    // Writing into a String cannot fail.
    let _ = write_playlist(&mut out, version, video, audio);
    out
}

fn write_playlist(
    out: &mut String,
    version: u32,
    video: &[VideoEntry<'_>],
    audio: &[AudioEntry<'_>],
) -> fmt::Result {
    writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-INDEPENDENT-SEGMENTS"
    )?;
    if video.is_empty() {
        for rendition in audio {
            let Bandwidth {
                peak_bps,
                average_bps,
            } = rendition.bandwidth;
            writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={peak_bps},AVERAGE-BANDWIDTH={average_bps},CODECS=\"{}\"",
                rendition.codec
            )?;
            writeln!(out, "{}", rendition.uri)?;
        }
        return Ok(());
    }

    for (index, rendition) in audio.iter().enumerate() {
        write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\",",
            rendition.name
        )?;
        if let Some(language) = rendition.language {
            write!(out, "LANGUAGE=\"{language}\",")?;
        }
        writeln!(
            out,
            "DEFAULT={},AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"",
            if index == 0 { "YES" } else { "NO" },
            rendition.channels,
            rendition.uri
        )?;
    }
    // A variant may play any rendition of its group: count the most demanding one and
    // name every audio codec of the group.
    let audio_peak = audio.iter().map(|r| r.bandwidth.peak_bps).max();
    let audio_average = audio.iter().map(|r| r.bandwidth.average_bps).max();
    let mut audio_codecs: Vec<&str> = Vec::new();
    for rendition in audio {
        if !audio_codecs.contains(&rendition.codec) {
            audio_codecs.push(rendition.codec);
        }
    }

    for variant in video {
        write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}",
            variant
                .bandwidth
                .peak_bps
                .saturating_add(audio_peak.unwrap_or(0)),
            variant
                .bandwidth
                .average_bps
                .saturating_add(audio_average.unwrap_or(0)),
            variant.codec
        )?;
        for codec in &audio_codecs {
            write!(out, ",{codec}")?;
        }
        write!(out, "\",RESOLUTION={}x{}", variant.width, variant.height)?;
        if let Some(rate) = variant.frame_rate.filter(|r| r.is_finite()) {
            write!(out, ",FRAME-RATE={rate:.3}")?;
        }
        if !audio.is_empty() {
            write!(out, ",AUDIO=\"{AUDIO_GROUP}\"")?;
        }
        writeln!(out, "\n{}", variant.uri)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(name: &'static str, codec: &'static str, peak_bps: u64) -> AudioEntry<'static> {
        AudioEntry {
            name,
            language: None,
            channels: 2,
            codec,
            bandwidth: Bandwidth {
                peak_bps,
                average_bps: peak_bps / 2,
            },
            uri: format!("{name}/index.m3u8"),
        }
    }

    #[test]
    fn a_variant_counts_its_most_demanding_audio_and_names_every_codec() {
        let video = [VideoEntry {
            codec: "avc1.64001f",
            width: 1280,
            height: 720,
            frame_rate: None,
            bandwidth: Bandwidth {
                peak_bps: 1000,
                average_bps: 500,
            },
            uri: "hd/index.m3u8".into(),
        }];
        let mut en = audio("en", "mp4a.40.2", 100);
        en.language = Some("en");
        let fr = audio("fr", "mp4a.40.5", 300);
        assert_eq!(
            multivariant_playlist(6, &video, &[en, fr]),
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"en\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"en/index.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"fr\",DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"fr/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1300,AVERAGE-BANDWIDTH=650,CODECS=\"avc1.64001f,mp4a.40.2,mp4a.40.5\",RESOLUTION=1280x720,AUDIO=\"audio\"\n\
             hd/index.m3u8\n"
        );
    }
}
