//! The multivariant (master) playlist of a stream.

use std::fmt::{self, Write};

use super::rendition::Rendition;
use super::window::Measured;
use crate::resource::Resource;
use crate::track::Codec;

/// Bitrates assumed before anything was published.
const DEFAULT_VIDEO_BPS: u64 = 2_500_000;
const DEFAULT_AUDIO_BPS: u64 = 128_000;
/// The one audio group every video variant refers to.
const AUDIO_GROUP: &str = "audio";

/// Writes the master playlist of the renditions in service; media playlist URIs are
/// `{media_prefix}{name}/index.m3u8`.
pub(crate) fn master_playlist(renditions: &[Rendition], media_prefix: &str) -> String {
    let mut out = String::with_capacity(256 + 256 * renditions.len());
    // Writing into a String cannot fail.
    let _ = write_master(&mut out, renditions, media_prefix);
    out
}

fn write_master(out: &mut String, renditions: &[Rendition], prefix: &str) -> fmt::Result {
    out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let active = || renditions.iter().filter(|r| r.active);
    let audio: Vec<&Rendition> = active().filter(|r| r.config.codec == Codec::Aac).collect();
    let video: Vec<&Rendition> = active().filter(|r| r.config.codec.is_video()).collect();

    if video.is_empty() {
        for rendition in audio {
            let (peak, average) = bandwidth(rendition);
            writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{}\"",
                rendition.config.codec_string
            )?;
            writeln!(out, "{prefix}{}/{}", rendition.name, Resource::Playlist)?;
        }
        return Ok(());
    }

    for (index, rendition) in audio.iter().enumerate() {
        writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{name}\",DEFAULT={default},AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"{prefix}{name}/{playlist}\"",
            name = rendition.name,
            default = if index == 0 { "YES" } else { "NO" },
            channels = rendition.config.channels,
            playlist = Resource::Playlist,
        )?;
    }
    let audio_peak = audio.iter().map(|r| bandwidth(r).0).max().unwrap_or(0);
    let audio_average = audio.iter().map(|r| bandwidth(r).1).max().unwrap_or(0);
    let audio_codec = audio.first().map(|r| r.config.codec_string.as_str());

    for rendition in video {
        let (peak, average) = bandwidth(rendition);
        write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}",
            peak + audio_peak,
            average + audio_average,
            rendition.config.codec_string
        )?;
        if let Some(codec) = audio_codec {
            write!(out, ",{codec}")?;
        }
        write!(
            out,
            "\",RESOLUTION={}x{}",
            rendition.config.width, rendition.config.height
        )?;
        if let Some(rate) = rendition
            .window
            .measure()
            .map(|m| m.frame_rate)
            .filter(|r| r.is_finite())
        {
            write!(out, ",FRAME-RATE={rate:.3}")?;
        }
        if audio_codec.is_some() {
            write!(out, ",AUDIO=\"{AUDIO_GROUP}\"")?;
        }
        out.push('\n');
        writeln!(out, "{prefix}{}/{}", rendition.name, Resource::Playlist)?;
    }
    Ok(())
}

/// Peak and average bits per second, measured over the window or assumed.
fn bandwidth(rendition: &Rendition) -> (u64, u64) {
    match rendition.window.measure() {
        Some(Measured {
            peak_bps,
            average_bps,
            ..
        }) if peak_bps > 0 => (peak_bps, average_bps),
        _ if rendition.config.codec.is_video() => (DEFAULT_VIDEO_BPS, DEFAULT_VIDEO_BPS),
        _ => (DEFAULT_AUDIO_BPS, DEFAULT_AUDIO_BPS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveOptions;
    use crate::track::fixtures::{audio, video};

    #[test]
    fn assumes_bitrates_before_any_media() {
        let renditions = vec![
            Rendition::new("hd", video(), LiveOptions::default(), 0),
            Rendition::new("aac", audio(), LiveOptions::default(), 0),
        ];
        assert_eq!(
            master_playlist(&renditions, "p/"),
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"aac\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"p/aac/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2628000,AVERAGE-BANDWIDTH=2628000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,AUDIO=\"audio\"\n\
             p/hd/index.m3u8\n"
        );
        assert_eq!(
            master_playlist(&[], ""),
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        );
    }
}
