//! HLS for VOD: a media playlist per rendition and the multivariant playlist.

use std::fmt::{self, Write};

use super::layout::AssetFile;
use super::presentation::Presentation;
use super::rendition::Rendition;
use crate::error::VodError;
use crate::multivariant::{AudioEntry, VideoEntry, multivariant_playlist};
use crate::timescale::Decimal;

/// Protocol version: fMP4 segments through EXT-X-MAP need 6; Apple's authoring spec asks
/// for 7 with fMP4.
const VERSION: u32 = 7;
/// EXTINF decimals.
const EXTINF_PLACES: u32 = 5;

/// The media playlist of `rendition`, written to [`AssetFile::MediaPlaylist`]: URIs are file
/// names in the rendition's folder.
///
/// Each discontinuity ([`Rendition::begin_discontinuity`]) is an `#EXT-X-DISCONTINUITY`
/// followed by the `#EXT-X-MAP` of its init segment, before the first segment after it.
/// Every rendition of a presentation has the same discontinuities, so a VOD playlist needs
/// no `#EXT-X-DISCONTINUITY-SEQUENCE`.
///
/// A complete rendition gets `#EXT-X-PLAYLIST-TYPE:VOD` and `#EXT-X-ENDLIST`; one still being
/// written gets `EVENT` and no end, so players reload it and pick up new segments. Refused
/// without segments.
pub fn media_playlist(rendition: &Rendition) -> Result<String, VodError> {
    if rendition.segments().is_empty() {
        return Err(VodError::NoSegments(rendition.name().to_owned()));
    }
    let mut out = String::with_capacity(256 + 40 * rendition.segments().len());
    // Writing into a String cannot fail.
    let _ = write_media_playlist(&mut out, rendition);
    Ok(out)
}

fn write_media_playlist(out: &mut String, rendition: &Rendition) -> fmt::Result {
    let timescale = rendition.timescale();
    writeln!(out, "#EXTM3U\n#EXT-X-VERSION:{VERSION}")?;
    writeln!(
        out,
        "#EXT-X-TARGETDURATION:{}",
        target_duration(rendition.longest_segment(), timescale)
    )?;
    let kind = if rendition.is_complete() {
        "VOD"
    } else {
        "EVENT"
    };
    writeln!(
        out,
        "#EXT-X-PLAYLIST-TYPE:{kind}\n#EXT-X-INDEPENDENT-SEGMENTS"
    )?;
    let name = rendition.name();
    for (index, part) in rendition.parts().enumerate() {
        if index > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        writeln!(
            out,
            "#EXT-X-MAP:URI=\"{}\"",
            AssetFile::Init(name, part.init).file_name()
        )?;
        for (number, segment) in (part.first_number..).zip(part.segments) {
            writeln!(
                out,
                "#EXTINF:{},\n{}",
                Decimal::seconds(segment.duration, timescale, EXTINF_PLACES),
                AssetFile::Segment(name, number).file_name()
            )?;
        }
    }
    if rendition.is_complete() {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    Ok(())
}

/// EXT-X-TARGETDURATION: the longest segment rounded up to whole seconds.
///
/// RFC 8216bis only asks that every EXTINF rounded to the nearest integer be at most the
/// target; the ceiling also satisfies clients and validators that read it as "every EXTINF
/// at most the target". Unlike the live playlist (which rounds, see its window), a VOD
/// playlist has no HOLD-BACK that a larger target would lengthen. An EVENT playlist's
/// target grows if a later segment is longer than every earlier one.
fn target_duration(longest: u64, timescale: u32) -> u64 {
    longest.div_ceil(u64::from(timescale.max(1)))
}

/// The multivariant playlist of `presentation`, written to [`AssetFile::MasterPlaylist`].
///
/// Audio renditions form the group `audio` (the first is the default), and each video
/// rendition is a variant, lowest peak bandwidth first, whose `BANDWIDTH` and
/// `AVERAGE-BANDWIDTH` add the most demanding audio rendition's. Without video, the audio
/// renditions are the variants (`CODECS` only, no `RESOLUTION`).
///
/// `CODECS` and `RESOLUTION` describe a rendition's first init segment ([`Rendition::config`]):
/// a variant has one of each, and after a discontinuity the track may differ (a publisher
/// reconnecting with other settings) without the variant changing.
pub fn master_playlist(presentation: &Presentation<'_>) -> String {
    let uri = |r: &Rendition| AssetFile::MediaPlaylist(r.name()).to_string();
    let audio: Vec<AudioEntry<'_>> = presentation
        .audio()
        .iter()
        .map(|r| AudioEntry {
            name: r.name(),
            language: r.language(),
            channels: r.config().channels,
            codec: &r.config().codec_string,
            bandwidth: r.bandwidth(),
            uri: uri(r),
        })
        .collect();
    let video: Vec<VideoEntry<'_>> = presentation
        .video()
        .iter()
        .map(|r| VideoEntry {
            codec: &r.config().codec_string,
            width: r.config().width,
            height: r.config().height,
            frame_rate: r.frame_rate().map(|rate| rate.per_second()),
            bandwidth: r.bandwidth(),
            uri: uri(r),
        })
        .collect();
    multivariant_playlist(VERSION, &video, &audio)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        aac, avc, finished, finished_with_discontinuity, segments, segments_from, sized_segments,
    };
    use super::super::rendition::FrameRate;
    use super::*;
    use crate::track::fixtures::{audio, video};

    #[test]
    fn vod_media_playlist() {
        let mut r = avc("720p", 1280, 720);
        for segment in segments(&[360_000, 360_360, 180_000], 1_000_000) {
            r.push_segment(segment).unwrap();
        }
        r.finish().unwrap();
        assert_eq!(
            media_playlist(&r).unwrap(),
            "#EXTM3U\n\
             #EXT-X-VERSION:7\n\
             #EXT-X-TARGETDURATION:5\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:4.00000,\nseg-00001.m4s\n\
             #EXTINF:4.00400,\nseg-00002.m4s\n\
             #EXTINF:2.00000,\nseg-00003.m4s\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn event_playlist_while_writing() {
        let mut r = aac("audio", None);
        assert_eq!(
            media_playlist(&r),
            Err(VodError::NoSegments("audio".into()))
        );
        for segment in segments(&[96_000, 95_232], 20_000) {
            r.push_segment(segment).unwrap();
        }
        let event = media_playlist(&r).unwrap();
        assert_eq!(
            event,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:2.00000,\nseg-00001.m4s\n\
             #EXTINF:1.98400,\nseg-00002.m4s\n"
        );
        r.finish().unwrap();
        let vod = media_playlist(&r).unwrap();
        assert_eq!(
            vod,
            format!("{}#EXT-X-ENDLIST\n", event.replace("EVENT", "VOD"))
        );
    }

    #[test]
    fn target_duration_is_the_ceiling_of_the_longest_segment() {
        assert_eq!(target_duration(360_000, 90_000), 4);
        assert_eq!(target_duration(360_001, 90_000), 5);
        // 4.004 s rounds to 4 but a ceiling of 5 holds under either reading of the rule.
        assert_eq!(target_duration(360_360, 90_000), 5);
        assert_eq!(target_duration(1, 90_000), 1);
        assert_eq!(target_duration(47_999, 48_000), 1);
        assert_eq!(target_duration(48_001, 48_000), 2);
    }

    #[test]
    fn master_with_an_audio_group_and_measured_bandwidths() {
        // Peaks 3 Mb/s and 0.8 Mb/s, averages 2.2 Mb/s and 0.64 Mb/s over 10 s.
        let hd = finished(
            avc("720p", 1280, 720),
            sized_segments(&[
                (360_000, 1_500_000),
                (360_000, 1_000_000),
                (180_000, 250_000),
            ]),
        );
        let mut config = video();
        (config.width, config.height) = (640, 360);
        config.codec_string = "avc1.64001e".into();
        let ntsc = FrameRate::new(30_000, 1001).unwrap();
        let sd = finished(
            Rendition::video("360p", config, ntsc).unwrap(),
            sized_segments(&[(360_000, 400_000), (360_000, 300_000), (180_000, 100_000)]),
        );
        // 128 kb/s throughout.
        let audio = finished(
            aac("audio", Some("en")),
            sized_segments(&[(192_000, 64_000), (192_000, 64_000), (96_000, 32_000)]),
        );
        // Finished, but not given: the master must not list it.
        let fhd = finished(avc("1080p", 1920, 1080), segments(&[360_000; 3], 1));
        assert_eq!(fhd.segments().len(), 3);

        let presentation = Presentation::new([&hd, &sd, &audio]).unwrap();
        assert_eq!(
            master_playlist(&presentation),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=928000,AVERAGE-BANDWIDTH=768000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970,AUDIO=\"audio\"\n\
             360p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3128000,AVERAGE-BANDWIDTH=2328000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             720p/index.m3u8\n"
        );
    }

    #[test]
    fn a_partial_master_lists_only_what_it_is_given() {
        let hd = finished(avc("720p", 1280, 720), segments(&[360_000], 100_000));
        let audio = finished(aac("audio", None), segments(&[192_000], 10_000));
        let presentation = Presentation::new([&hd]).unwrap();
        let master = master_playlist(&presentation);
        assert!(!master.contains("audio"), "{master}");
        assert!(master.contains("CODECS=\"avc1.64001f\",RESOLUTION=1280x720"));
        assert!(master.ends_with("\n720p/index.m3u8\n"));
        let presentation = Presentation::new([&audio, &hd]).unwrap();
        assert!(master_playlist(&presentation).contains("URI=\"audio/index.m3u8\""));
    }

    #[test]
    fn audio_only_master() {
        let audio = finished(
            aac("audio", None),
            sized_segments(&[(192_000, 64_000), (96_000, 40_000)]),
        );
        let presentation = Presentation::new([&audio]).unwrap();
        assert_eq!(
            master_playlist(&presentation),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=160000,AVERAGE-BANDWIDTH=138667,CODECS=\"mp4a.40.2\"\n\
             audio/index.m3u8\n"
        );
    }

    #[test]
    fn a_discontinuity_and_its_init_segment() {
        let mut fhd = video();
        (fhd.width, fhd.height) = (1920, 1080);
        // A reconnect 2 s after the first publish ended, at a higher resolution.
        let r = finished_with_discontinuity(
            avc("720p", 1280, 720),
            segments(&[360_000, 360_000], 1_000_000),
            fhd,
            segments_from(900_000, &[360_000, 180_000], 1_000_000),
        );
        assert_eq!(
            media_playlist(&r).unwrap(),
            "#EXTM3U\n\
             #EXT-X-VERSION:7\n\
             #EXT-X-TARGETDURATION:4\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:4.00000,\nseg-00001.m4s\n\
             #EXTINF:4.00000,\nseg-00002.m4s\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init-1.mp4\"\n\
             #EXTINF:4.00000,\nseg-00003.m4s\n\
             #EXTINF:2.00000,\nseg-00004.m4s\n\
             #EXT-X-ENDLIST\n"
        );
        // The variant is described by the first init segment.
        let master = master_playlist(&Presentation::new([&r]).unwrap());
        assert!(master.contains("RESOLUTION=1280x720,"), "{master}");
    }

    #[test]
    fn a_discontinuity_without_segments_yet_is_not_listed() {
        let mut r = aac("audio", None);
        r.push_segment(segments(&[96_000], 1)[0]).unwrap();
        let before = media_playlist(&r).unwrap();
        r.begin_discontinuity(audio()).unwrap();
        assert_eq!(media_playlist(&r).unwrap(), before);
        r.push_segment(segments_from(144_000, &[96_000], 1)[0])
            .unwrap();
        assert!(media_playlist(&r).unwrap().ends_with(
            "seg-00001.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
                 #EXTINF:2.00000,\nseg-00002.m4s\n"
        ));
    }

    #[test]
    fn a_recording_numbers_its_own_segments_and_init_segments() {
        let mut r = aac("audio", None);
        r.number_from(2, 4).unwrap();
        r.push_segment(segments(&[96_000], 1)[0]).unwrap();
        assert!(matches!(r.number_from(0, 1), Err(VodError::Renumbered(_))));
        // Segments 5 and 6 were not recorded: the same init segment goes on after a gap.
        r.begin_discontinuity_at(audio(), 2, 7).unwrap();
        r.push_segment(segments_from(240_000, &[96_000], 1)[0])
            .unwrap();
        assert!(matches!(
            r.begin_discontinuity_at(audio(), 1, 8),
            Err(VodError::InitNumber {
                init: 1,
                latest: 2,
                ..
            })
        ));
        assert!(matches!(
            r.begin_discontinuity_at(audio(), 5, 7),
            Err(VodError::NumberSkipped {
                number: 7,
                next: 8,
                ..
            })
        ));
        r.begin_discontinuity_at(audio(), 5, 8).unwrap();
        assert_eq!(r.next_segment(), AssetFile::Segment("audio", 8));
        r.push_segment(segments_from(336_000, &[48_000], 1)[0])
            .unwrap();
        r.finish().unwrap();
        assert!(media_playlist(&r).unwrap().ends_with(
            "#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:2.00000,\nseg-00004.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n#EXTINF:2.00000,\nseg-00007.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-5.mp4\"\n#EXTINF:1.00000,\nseg-00008.m4s\n\
             #EXT-X-ENDLIST\n"
        ));
        assert_eq!(r.discontinuities().collect::<Vec<_>>(), [7, 8]);
        assert_eq!(
            (r.init_of(4), r.init_of(5), r.init_of(8)),
            (Some(2), None, Some(5))
        );
        let numbers: Vec<u64> = r.numbered_segments().map(|(n, _)| n).collect();
        assert_eq!(numbers, [4, 7, 8]);
        let mpd = crate::vod::mpd(&Presentation::new([&r]).unwrap()).unwrap();
        for (init, start) in [("init-2", 4), ("init-2", 7), ("init-5", 8)] {
            let template = format!(
                "initialization=\"$RepresentationID$/{init}.mp4\" media=\"$RepresentationID$/seg-$Number%05d$.m4s\" startNumber=\"{start}\""
            );
            assert!(mpd.contains(&template), "{template} in {mpd}");
        }
    }
}
