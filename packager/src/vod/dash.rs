//! DASH for VOD: one static MPD over the same CMAF files the HLS playlists list.

use std::fmt;
use std::time::Duration;

use super::layout::{DASH_MEDIA, dash_initialization};
use super::presentation::Presentation;
use super::rendition::{Part, Rendition, Segment};
use super::xml::{Attr, XmlWriter};
use crate::error::VodError;

const NAMESPACE: &str = "urn:mpeg:dash:schema:mpd:2011";
const PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";
const CHANNEL_CONFIGURATION: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";

/// The MPD of `presentation`, written to [`super::AssetFile::Mpd`].
///
/// A static presentation with one Period from media time zero. Video renditions share one
/// AdaptationSet (lowest bandwidth first); each audio rendition is an AdaptationSet of its
/// own, as each is an alternative track (a language), not a bitrate of one track. Segments
/// are addressed with a SegmentTemplate whose names are those of [`super::AssetFile`] and a
/// SegmentTimeline; the template sits on the AdaptationSet when every Representation has the
/// same timeline, else on each Representation.
///
/// Each discontinuity starts another Period (every rendition has the same ones,
/// [`Presentation::new`] checks). It starts when its earliest first segment does (to the
/// millisecond, from media time zero), and each SegmentTemplate in it has: the Period's
/// start in its timescale as `presentationTimeOffset`, so media times keep meaning what they
/// mean in the first Period and audio stays in sync with video; the Period's init segment
/// as `initialization`; its first segment's number as `startNumber`; the Period's segments
/// only. Representations describe the Period's track (codecs, dimensions, sample rate) and
/// keep the bandwidth measured over the whole rendition.
///
/// `@bandwidth` is the peak segment bitrate and `minBufferTime` the longest segment, so a
/// client receiving at `@bandwidth` after buffering `minBufferTime` never stalls, as the MPD
/// semantics require. `mediaPresentationDuration` is the end of the rendition that ends
/// last, rounded up to the millisecond. Video has square pixels (`sar="1:1"`): the ladder
/// scales to square pixels.
///
/// Refused while a rendition is still being written ([`Presentation::growing`]): a static
/// MPD describes finished media.
pub fn mpd(presentation: &Presentation<'_>) -> Result<String, VodError> {
    if let Some(name) = presentation.incomplete() {
        return Err(VodError::Incomplete(name.to_owned()));
    }
    let mut xml = XmlWriter::new();
    xml.start(
        "MPD",
        &[
            ("xmlns", &NAMESPACE),
            ("profiles", &PROFILE),
            ("type", &"static"),
            (
                "mediaPresentationDuration",
                &IsoDuration(presentation.duration()),
            ),
            (
                "minBufferTime",
                &IsoDuration(presentation.longest_segment()),
            ),
        ],
    );
    let period_count = presentation
        .renditions()
        .map(|r| r.parts().count())
        .max()
        .unwrap_or(0);
    for period in 0..period_count {
        write_period(&mut xml, presentation, period);
    }
    Ok(xml.finish())
}

/// A rendition's segments in one Period.
struct Track<'a> {
    rendition: &'a Rendition,
    part: Part<'a>,
    /// `presentationTimeOffset`: the Period's start in the rendition's timescale.
    offset: u64,
}

/// The `period`th part of each rendition, with `presentationTimeOffset` for a Period
/// starting at `start_ms`.
fn tracks_of<'a>(renditions: &[&'a Rendition], period: usize, start_ms: u64) -> Vec<Track<'a>> {
    renditions
        .iter()
        .filter_map(|&rendition| {
            Some(Track {
                rendition,
                part: rendition.parts().nth(period)?,
                offset: ms_to_ticks(start_ms, rendition.timescale()),
            })
        })
        .collect()
}

/// Where a later Period starts, in milliseconds from media time zero (the precision of
/// `Period@start`): when its earliest first segment does, rounded down so that no segment
/// starts before its Period.
fn period_start_ms(presentation: &Presentation<'_>, period: usize) -> u64 {
    let first_start_ms = |rendition: &Rendition| {
        let first = rendition.parts().nth(period)?.segments.first()?;
        Some(u128::from(first.start) * 1000 / u128::from(rendition.timescale().max(1)))
    };
    let earliest = presentation
        .renditions()
        .filter_map(first_start_ms)
        .min()
        .unwrap_or(0);
    u64::try_from(earliest).unwrap_or(u64::MAX)
}

/// `ms` in ticks of `timescale`, rounded down.
fn ms_to_ticks(ms: u64, timescale: u32) -> u64 {
    let ticks = u128::from(ms) * u128::from(timescale) / 1000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

fn write_period(xml: &mut XmlWriter, presentation: &Presentation<'_>, period: usize) {
    // The first Period starts at media time zero, like the timeline of each rendition; the
    // offsets keep later ones on that timeline, so audio and video stay in sync.
    let start_ms = if period == 0 {
        0
    } else {
        period_start_ms(presentation, period)
    };
    let video = tracks_of(presentation.video(), period, start_ms);
    let audio = tracks_of(presentation.audio(), period, start_ms);
    xml.start(
        "Period",
        &[
            ("id", &period),
            ("start", &IsoDuration(Duration::from_millis(start_ms))),
        ],
    );
    let mut set_id = 0;
    if !video.is_empty() {
        video_set(xml, set_id, &video);
        set_id += 1;
    }
    for audio in &audio {
        audio_set(xml, set_id, audio);
        set_id += 1;
    }
    xml.end();
}

fn video_set(xml: &mut XmlWriter, id: usize, tracks: &[Track<'_>]) {
    let max_width = tracks.iter().map(|t| t.part.config.width).max();
    let max_height = tracks.iter().map(|t| t.part.config.height).max();
    let max_frame_rate = tracks.iter().filter_map(|t| t.rendition.frame_rate()).max();
    let mut attrs: Vec<Attr<'_>> = vec![
        ("id", &id),
        ("contentType", &"video"),
        ("mimeType", &"video/mp4"),
        ("segmentAlignment", &"true"),
        ("startWithSAP", &"1"),
    ];
    if let (Some(width), Some(height)) = (&max_width, &max_height) {
        attrs.push(("maxWidth", width));
        attrs.push(("maxHeight", height));
    }
    if let Some(rate) = &max_frame_rate {
        attrs.push(("maxFrameRate", rate));
    }
    xml.start("AdaptationSet", &attrs);
    let shared = shared_template(xml, tracks);
    for track in tracks {
        let (rendition, config) = (track.rendition, track.part.config);
        let name = rendition.name();
        let bandwidth = rendition.bandwidth().peak_bps;
        let mut attrs: Vec<Attr<'_>> = vec![
            ("id", &name),
            ("bandwidth", &bandwidth),
            ("codecs", &config.codec_string),
            ("width", &config.width),
            ("height", &config.height),
        ];
        let frame_rate = rendition.frame_rate();
        if let Some(rate) = &frame_rate {
            attrs.push(("frameRate", rate));
        }
        attrs.push(("sar", &"1:1"));
        if shared {
            xml.empty("Representation", &attrs);
        } else {
            xml.start("Representation", &attrs);
            segment_template(xml, track);
            xml.end();
        }
    }
    xml.end();
}

fn audio_set(xml: &mut XmlWriter, id: usize, track: &Track<'_>) {
    let rendition = track.rendition;
    let mut attrs: Vec<Attr<'_>> = vec![
        ("id", &id),
        ("contentType", &"audio"),
        ("mimeType", &"audio/mp4"),
        ("segmentAlignment", &"true"),
        ("startWithSAP", &"1"),
    ];
    let language = rendition.language();
    if let Some(language) = &language {
        attrs.push(("lang", language));
    }
    xml.start("AdaptationSet", &attrs);
    shared_template(xml, std::slice::from_ref(track));
    let config = track.part.config;
    xml.start(
        "Representation",
        &[
            ("id", &rendition.name()),
            ("bandwidth", &rendition.bandwidth().peak_bps),
            ("codecs", &config.codec_string),
            ("audioSamplingRate", &config.sample_rate),
        ],
    );
    xml.empty(
        "AudioChannelConfiguration",
        &[
            ("schemeIdUri", &CHANNEL_CONFIGURATION),
            ("value", &config.channels),
        ],
    );
    xml.end();
    xml.end();
}

/// Writes the SegmentTemplate every rendition of the set shares, if they share one, and
/// says whether it did.
fn shared_template(xml: &mut XmlWriter, tracks: &[Track<'_>]) -> bool {
    let Some((reference, others)) = tracks.split_first() else {
        return false;
    };
    let reference_timeline = timeline(reference.part.segments);
    let shared = others.iter().all(|t| {
        t.rendition.timescale() == reference.rendition.timescale()
            && timeline(t.part.segments) == reference_timeline
    });
    if shared {
        segment_template(xml, reference);
    }
    shared
}

fn segment_template(xml: &mut XmlWriter, track: &Track<'_>) {
    let part = &track.part;
    let timescale = track.rendition.timescale();
    let initialization = dash_initialization(part.init);
    let mut attrs: Vec<Attr<'_>> = vec![("timescale", &timescale)];
    if track.offset > 0 {
        attrs.push(("presentationTimeOffset", &track.offset));
    }
    attrs.push(("initialization", &initialization));
    attrs.push(("media", &DASH_MEDIA));
    attrs.push(("startNumber", &part.first_number));
    xml.start("SegmentTemplate", &attrs);
    xml.start("SegmentTimeline", &[]);
    for s in timeline(part.segments) {
        let mut attrs: Vec<Attr<'_>> = Vec::with_capacity(3);
        if let Some(t) = &s.t {
            attrs.push(("t", t));
        }
        attrs.push(("d", &s.d));
        if s.r > 0 {
            attrs.push(("r", &s.r));
        }
        xml.empty("S", &attrs);
    }
    xml.end();
    xml.end();
}

/// One `<S>` of a SegmentTimeline: `r + 1` segments of duration `d`, the first starting at
/// `t` or, without `t`, where the previous one ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct S {
    t: Option<u64>,
    d: u64,
    r: u64,
}

/// The segments, consecutive equal durations run-length compressed; `t` is written for the
/// first segment and after a gap.
fn timeline(segments: &[Segment]) -> Vec<S> {
    let mut timeline: Vec<S> = Vec::new();
    let mut end = None;
    for segment in segments {
        let contiguous = end == Some(u128::from(segment.start));
        match timeline.last_mut() {
            Some(last) if contiguous && last.d == segment.duration => last.r += 1,
            _ => timeline.push(S {
                t: (!contiguous).then_some(segment.start),
                d: segment.duration,
                r: 0,
            }),
        }
        end = Some(segment.end());
    }
    timeline
}

/// An ISO 8601 duration in hours, minutes and seconds, rounded up to the millisecond:
/// `PT0S`, `PT4.004S`, `PT1H2M3.5S`.
struct IsoDuration(Duration);

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_nanos().div_ceil(1_000_000);
        let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
        let (seconds, millis) = (ms / 1000 % 60, ms % 1000);
        f.write_str("PT")?;
        if hours > 0 {
            write!(f, "{hours}H")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}M")?;
        }
        write!(f, "{seconds}")?;
        if millis > 0 {
            let fraction = format!("{millis:03}");
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        f.write_str("S")
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        aac, avc, finished, finished_with_discontinuity, segments, segments_from, sized_segments,
    };
    use super::super::rendition::{FrameRate, Segment};
    use super::*;
    use crate::track::fixtures::{audio, video};

    /// 720p and 360p cut at 0, 4, 8 and 12 s, ending at 14 s; AAC cut at the first frame
    /// boundary after each, ending at 14.0213 s.
    fn ladder() -> (Rendition, Rendition, Rendition) {
        let hd = finished(
            avc("720p", 1280, 720),
            sized_segments(&[
                (360_000, 1_500_000),
                (360_000, 1_000_000),
                (360_000, 1_000_000),
                (180_000, 250_000),
            ]),
        );
        let mut config = video();
        (config.width, config.height) = (640, 360);
        config.codec_string = "avc1.64001e".into();
        let sd = finished(
            Rendition::video("360p", config, FrameRate::new(30, 1).unwrap()).unwrap(),
            segments(&[360_000, 360_000, 360_000, 180_000], 300_000),
        );
        let audio = finished(
            aac("audio", Some("en")),
            segments(&[192_512, 191_488, 192_512, 96_512], 64_000),
        );
        (hd, sd, audio)
    }

    #[test]
    fn two_video_and_one_audio() {
        let (hd, sd, audio) = ladder();
        let presentation = Presentation::new([&hd, &sd, &audio]).unwrap();
        assert_eq!(
            mpd(&presentation).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT14.022S" minBufferTime="PT4.011S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="1280" maxHeight="720" maxFrameRate="30">
      <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="360000" r="2"/>
          <S d="180000"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="360p" bandwidth="1200000" codecs="avc1.64001e" width="640" height="360" frameRate="30" sar="1:1"/>
      <Representation id="720p" bandwidth="3000000" codecs="avc1.64001f" width="1280" height="720" frameRate="30" sar="1:1"/>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1" lang="en">
      <SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="192512"/>
          <S d="191488"/>
          <S d="192512"/>
          <S d="96512"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="audio" bandwidth="254642" codecs="mp4a.40.2" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#
        );
    }

    /// `ladder`'s renditions cut after 8 s, and after a reconnect 2 s later (a new init
    /// segment, 720p now 1080p) 4 and 2 s more; audio resumes at a frame boundary 16 ms
    /// before the video.
    fn reconnected_ladder() -> (Rendition, Rendition, Rendition) {
        let (hd, sd, audio) = ladder();
        let mut fhd = hd.config().clone();
        (fhd.width, fhd.height) = (1920, 1080);
        fhd.codec_string = "avc1.640028".into();
        let hd = finished_with_discontinuity(
            avc("720p", 1280, 720),
            hd.segments()[..2].to_vec(),
            fhd,
            sized_segments(&[(360_000, 2_000_000), (180_000, 500_000)])
                .into_iter()
                .map(|s| Segment {
                    start: s.start + 900_000,
                    ..s
                })
                .collect(),
        );
        let sd_config = sd.config().clone();
        let sd = finished_with_discontinuity(
            Rendition::video("360p", sd_config.clone(), FrameRate::new(30, 1).unwrap()).unwrap(),
            sd.segments()[..2].to_vec(),
            sd_config,
            segments_from(900_000, &[360_000, 180_000], 300_000),
        );
        let audio_config = audio.config().clone();
        let audio = finished_with_discontinuity(
            aac("audio", Some("en")),
            audio.segments()[..2].to_vec(),
            audio_config,
            segments_from(479_232, &[192_512, 96_256], 64_000),
        );
        (hd, sd, audio)
    }

    #[test]
    fn a_period_per_discontinuity() {
        let (hd, sd, audio) = reconnected_ladder();
        let presentation = Presentation::new([&hd, &sd, &audio]).unwrap();
        // Period 1 starts with the audio, 16 ms before the video; the offsets keep both on
        // the timeline of Period 0, so they stay in sync.
        assert_eq!(
            mpd(&presentation).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT16S" minBufferTime="PT4.011S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="1280" maxHeight="720" maxFrameRate="30">
      <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="360000" r="1"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="360p" bandwidth="1200000" codecs="avc1.64001e" width="640" height="360" frameRate="30" sar="1:1"/>
      <Representation id="720p" bandwidth="4000000" codecs="avc1.64001f" width="1280" height="720" frameRate="30" sar="1:1"/>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1" lang="en">
      <SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="192512"/>
          <S d="191488"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="audio" bandwidth="255320" codecs="mp4a.40.2" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
      </Representation>
    </AdaptationSet>
  </Period>
  <Period id="1" start="PT9.984S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="1920" maxHeight="1080" maxFrameRate="30">
      <SegmentTemplate timescale="90000" presentationTimeOffset="898560" initialization="$RepresentationID$/init-1.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="3">
        <SegmentTimeline>
          <S t="900000" d="360000"/>
          <S d="180000"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="360p" bandwidth="1200000" codecs="avc1.64001e" width="640" height="360" frameRate="30" sar="1:1"/>
      <Representation id="720p" bandwidth="4000000" codecs="avc1.640028" width="1920" height="1080" frameRate="30" sar="1:1"/>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1" lang="en">
      <SegmentTemplate timescale="48000" presentationTimeOffset="479232" initialization="$RepresentationID$/init-1.mp4" media="$RepresentationID$/seg-$Number%05d$.m4s" startNumber="3">
        <SegmentTimeline>
          <S t="479232" d="192512"/>
          <S d="96256"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="audio" bandwidth="255320" codecs="mp4a.40.2" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#
        );
    }

    #[test]
    fn a_later_period_starts_on_a_millisecond() {
        let mut config = audio();
        config.sample_rate = 44_100;
        // The second part starts at 441050 / 44100 = 10.00113 s.
        let audio = finished_with_discontinuity(
            Rendition::audio("audio", config.clone(), None).unwrap(),
            segments(&[88_200], 10),
            config,
            segments_from(441_050, &[88_200], 10),
        );
        let text = mpd(&Presentation::new([&audio]).unwrap()).unwrap();
        assert!(
            text.contains("<Period id=\"1\" start=\"PT10.001S\">"),
            "{text}"
        );
        // 10.001 s is 441044.1 ticks: rounded down, the first segment is inside the Period.
        assert!(
            text.contains(
                "presentationTimeOffset=\"441044\" initialization=\"$RepresentationID$/init-1.mp4\""
            ),
            "{text}"
        );
        assert!(text.contains("<S t=\"441050\" d=\"88200\"/>"), "{text}");
    }

    #[test]
    fn different_timelines_get_a_template_each() {
        let (hd, _, _) = ladder();
        // The last frame of this rung lasts longer: same starts, another last duration.
        let mut config = video();
        (config.width, config.height) = (640, 360);
        let sd = finished(
            Rendition::video("360p", config, FrameRate::new(30_000, 1001).unwrap()).unwrap(),
            segments(&[360_000, 360_000, 360_000, 183_003], 300_000),
        );
        let text = mpd(&Presentation::new([&hd, &sd]).unwrap()).unwrap();
        assert!(!text.contains("contentType=\"audio\""));
        assert!(text.contains("maxFrameRate=\"30\""));
        assert!(text.contains("frameRate=\"30000/1001\" sar=\"1:1\">\n        <SegmentTemplate"));
        assert_eq!(text.matches("<SegmentTemplate").count(), 2);
        assert!(text.contains("<S t=\"0\" d=\"360000\" r=\"2\"/>\n            <S d=\"183003\"/>"));
        assert!(text.contains("mediaPresentationDuration=\"PT14.034S\""));
    }

    #[test]
    fn audio_only() {
        let (_, _, audio) = ladder();
        let text = mpd(&Presentation::new([&audio]).unwrap()).unwrap();
        assert!(!text.contains("video"));
        assert!(text.contains("<AdaptationSet id=\"0\" contentType=\"audio\""));
    }

    #[test]
    fn timeline_runs_and_gaps() {
        let mut r = avc("v", 640, 360);
        for (start, duration) in [
            (3000, 90_000),
            (93_000, 90_000),
            (183_000, 45_000),
            (250_000, 45_000),
            (295_000, 45_000),
        ] {
            r.push_segment(Segment {
                start,
                duration,
                size: 1,
            })
            .unwrap();
        }
        assert_eq!(
            timeline(r.segments()),
            [
                S {
                    t: Some(3000),
                    d: 90_000,
                    r: 1
                },
                S {
                    t: None,
                    d: 45_000,
                    r: 0
                },
                S {
                    t: Some(250_000),
                    d: 45_000,
                    r: 1
                },
            ]
        );
    }

    #[test]
    fn iso_durations() {
        let iso = |nanos| IsoDuration(Duration::from_nanos(nanos)).to_string();
        assert_eq!(iso(0), "PT0S");
        assert_eq!(iso(1), "PT0.001S");
        assert_eq!(iso(4_000_000_000), "PT4S");
        assert_eq!(iso(4_004_000_000), "PT4.004S");
        assert_eq!(iso(4_500_000_001), "PT4.501S");
        assert_eq!(iso(59_999_999_999), "PT1M0S");
        assert_eq!(iso(3_723_500_000_000), "PT1H2M3.5S");
        assert_eq!(iso(7_200_000_000_000), "PT2H0S");
    }
}
