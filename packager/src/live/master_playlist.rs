//! The multivariant (master) playlist of a stream.

use super::rendition::Rendition;
use super::window::Measured;
use crate::bitrate::Bandwidth;
use crate::multivariant::{AudioEntry, VideoEntry, multivariant_playlist};
use crate::resource::Resource;
use crate::track::Codec;

/// Protocol version of the multivariant playlist.
const VERSION: u32 = 9;
/// Bitrates assumed before anything was published.
const DEFAULT_VIDEO_BPS: u64 = 2_500_000;
const DEFAULT_AUDIO_BPS: u64 = 128_000;

/// Writes the master playlist of the renditions in service; media playlist URIs are
/// `{media_prefix}{name}/index.m3u8`.
pub(crate) fn master_playlist(renditions: &[Rendition], media_prefix: &str) -> String {
    let active = || renditions.iter().filter(|r| r.active);
    let uri = |r: &Rendition| format!("{media_prefix}{}/{}", r.name, Resource::Playlist);
    let audio: Vec<AudioEntry<'_>> = active()
        .filter(|r| r.config.codec == Codec::Aac)
        .map(|r| AudioEntry {
            name: &r.name,
            language: None,
            channels: r.config.channels,
            codec: &r.config.codec_string,
            bandwidth: bandwidth(r),
            uri: uri(r),
        })
        .collect();
    let video: Vec<VideoEntry<'_>> = active()
        .filter(|r| r.config.codec.is_video())
        .map(|r| VideoEntry {
            codec: &r.config.codec_string,
            width: r.config.width,
            height: r.config.height,
            frame_rate: r.window.measure().map(|m| m.frame_rate),
            bandwidth: bandwidth(r),
            uri: uri(r),
        })
        .collect();
    multivariant_playlist(VERSION, &video, &audio)
}

/// Peak and average bits per second, measured over the window or assumed.
fn bandwidth(rendition: &Rendition) -> Bandwidth {
    let assumed = if rendition.config.codec.is_video() {
        DEFAULT_VIDEO_BPS
    } else {
        DEFAULT_AUDIO_BPS
    };
    match rendition.window.measure() {
        Some(Measured {
            peak_bps,
            average_bps,
            ..
        }) if peak_bps > 0 => Bandwidth {
            peak_bps,
            average_bps,
        },
        _ => Bandwidth {
            peak_bps: assumed,
            average_bps: assumed,
        },
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
