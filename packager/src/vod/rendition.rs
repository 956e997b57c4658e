//! One rendition of a VOD asset: its track, and the segments written so far.

use std::cmp::Ordering;
use std::fmt;

use super::layout::{AssetFile, FIRST_SEGMENT_NUMBER};
use crate::bitrate::{Bandwidth, bits_per_second};
use crate::error::VodError;
use crate::track::{TrackConfig, check_rendition_name};

/// Frames per second as a ratio, e.g. `30/1` or `30000/1001`. Kept in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRate {
    num: u32,
    den: u32,
}

impl FrameRate {
    /// `num` frames every `den` seconds; both must be positive.
    pub fn new(num: u32, den: u32) -> Result<FrameRate, VodError> {
        if num == 0 || den == 0 {
            return Err(VodError::FrameRate { num, den });
        }
        let divisor = gcd(num, den);
        Ok(FrameRate {
            num: num / divisor,
            den: den / divisor,
        })
    }

    /// Frames (in lowest terms).
    pub fn num(self) -> u32 {
        self.num
    }

    /// Per this many seconds (in lowest terms).
    pub fn den(self) -> u32 {
        self.den
    }

    /// Frames per second, for HLS `FRAME-RATE`.
    pub(crate) fn per_second(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ord for FrameRate {
    fn cmp(&self, other: &Self) -> Ordering {
        (u64::from(self.num) * u64::from(other.den))
            .cmp(&(u64::from(other.num) * u64::from(self.den)))
    }
}

impl PartialOrd for FrameRate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `30` or `30000/1001`: the DASH `FrameRateType` syntax.
impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// One media segment: one moof+mdat file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Earliest presentation time of its samples, in the rendition's timescale. For video it
    /// is the presentation time of the keyframe that opens it; every video rendition starts
    /// segment N at the same time.
    pub start: u64,
    /// Presentation duration in the rendition's timescale: up to the next segment's start,
    /// and for the last one to the end of its last sample.
    pub duration: u64,
    /// Size of the file in bytes.
    pub size: u64,
}

impl Segment {
    /// Where it ends, in the rendition's timescale.
    pub(crate) fn end(&self) -> u128 {
        u128::from(self.start) + u128::from(self.duration)
    }
}

/// A new init segment, used from one segment on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Discontinuity {
    /// The init segment's number: 1 for the first discontinuity, then 2… unless given.
    init: u32,
    /// Index in [`Rendition::segments`] of the first segment after it.
    first: usize,
    /// The number of that segment: the next one, unless numbers were skipped.
    first_number: u64,
    config: TrackConfig,
}

/// The segments of a rendition that use one init segment: all of them without
/// discontinuities, else those between two discontinuities.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// Its init segment's number ([`AssetFile::Init`]).
    pub init: u32,
    pub config: &'a TrackConfig,
    /// The number of its first segment; the others follow without gaps.
    pub first_number: u64,
    /// At least one.
    pub segments: &'a [Segment],
}

/// What only one kind of rendition has.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Detail {
    Video { frame_rate: FrameRate },
    Audio { language: Option<String> },
}

/// One rendition of an asset: a CMAF track in its own folder, an init segment and media
/// segments numbered from [`FIRST_SEGMENT_NUMBER`], named by [`AssetFile`].
///
/// Times are in the rendition's timescale, the one its init segment declares:
/// [`TrackConfig::timescale`] (90 kHz for video, the sample rate for audio). Codec strings,
/// dimensions, sample rate and channel count come from its [`TrackConfig`], the same value
/// its init segment is written from.
///
/// Segments are added as they are written; [`Rendition::begin_discontinuity`] starts a new
/// init segment for the segments after it; [`Rendition::finish`] marks the rendition
/// complete. Until then its media playlist is an `EVENT` playlist, and no
/// [`super::Presentation`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    name: String,
    /// The track of the first init segment, used from the first segment on.
    config: TrackConfig,
    /// The first init segment's number: 0 unless [`Rendition::number_from`] says.
    init: u32,
    /// The first segment's number: [`FIRST_SEGMENT_NUMBER`] unless [`Rendition::number_from`]
    /// says.
    first_number: u64,
    /// In order.
    discontinuities: Vec<Discontinuity>,
    detail: Detail,
    segments: Vec<Segment>,
    complete: bool,
}

impl Rendition {
    /// A video rendition named `name` (its folder and DASH Representation id: letters,
    /// digits, `-` and `_`), with no segments yet.
    pub fn video(
        name: &str,
        config: TrackConfig,
        frame_rate: FrameRate,
    ) -> Result<Rendition, VodError> {
        if !config.codec.is_video() {
            return Err(VodError::NotVideo(name.to_owned()));
        }
        Rendition::new(name, config, Detail::Video { frame_rate })
    }

    /// An audio rendition, with its language (a BCP 47 tag such as `en` or `pt-BR`) when
    /// known, and no segments yet.
    pub fn audio(
        name: &str,
        config: TrackConfig,
        language: Option<&str>,
    ) -> Result<Rendition, VodError> {
        if config.codec.is_video() {
            return Err(VodError::NotAudio(name.to_owned()));
        }
        if let Some(language) = language.filter(|l| !is_language_tag(l)) {
            return Err(VodError::Language(language.to_owned()));
        }
        let language = language.map(str::to_owned);
        Rendition::new(name, config, Detail::Audio { language })
    }

    fn new(name: &str, config: TrackConfig, detail: Detail) -> Result<Rendition, VodError> {
        check_rendition_name(name)?;
        config.validate()?;
        Ok(Rendition {
            name: name.to_owned(),
            config,
            init: 0,
            first_number: FIRST_SEGMENT_NUMBER,
            discontinuities: Vec::new(),
            detail,
            segments: Vec::new(),
            complete: false,
        })
    }

    /// Numbers the first init segment `init` and the first segment `first_number` instead of
    /// 0 and [`FIRST_SEGMENT_NUMBER`]: for a rendition whose files were written under other
    /// numbers (a live recording names them after the live playlist's). Only before the
    /// first segment.
    pub fn number_from(&mut self, init: u32, first_number: u64) -> Result<(), VodError> {
        if !self.segments.is_empty() {
            return Err(VodError::Renumbered(self.name.clone()));
        }
        if first_number < FIRST_SEGMENT_NUMBER {
            return Err(VodError::NumberSkipped {
                rendition: self.name.clone(),
                number: first_number,
                next: FIRST_SEGMENT_NUMBER,
            });
        }
        self.init = init;
        self.first_number = first_number;
        Ok(())
    }

    /// Adds the next segment, written to [`Rendition::next_segment`], and returns its number.
    /// Refuses a zero duration, a start before the previous segment's end, and anything after
    /// [`Rendition::finish`]. A start after the previous end leaves a gap in the timeline.
    pub fn push_segment(&mut self, segment: Segment) -> Result<u64, VodError> {
        let number = self.next_number();
        if self.complete {
            return Err(VodError::Finished(self.name.clone()));
        }
        if segment.duration == 0 {
            return Err(VodError::ZeroDuration {
                rendition: self.name.clone(),
                number,
            });
        }
        if let Some(previous_end) = self
            .segments
            .last()
            .map(Segment::end)
            .filter(|end| u128::from(segment.start) < *end)
        {
            return Err(VodError::Overlap {
                rendition: self.name.clone(),
                number,
                start: segment.start,
                previous_end,
            });
        }
        self.segments.push(segment);
        Ok(number)
    }

    /// The next segments follow a discontinuity (a reconnect: their timeline may jump and
    /// their track change) and use a new init segment, written from `config` to
    /// [`AssetFile::Init`] with the number returned: 1 for the first discontinuity, then 2…
    ///
    /// `config` is checked as the first one was, and must be of the same kind (video or
    /// audio) and have the same timescale. Refused after [`Rendition::finish`] and while no
    /// segment uses the current init segment (before any segment, or twice in a row).
    pub fn begin_discontinuity(&mut self, config: TrackConfig) -> Result<u32, VodError> {
        self.check_discontinuity(&config)?;
        let init = self
            .latest_init()
            .0
            .checked_add(1)
            .ok_or_else(|| VodError::TooManyInits(self.name.clone()))?;
        self.discontinuities.push(Discontinuity {
            init,
            first: self.segments.len(),
            first_number: self.next_number(),
            config,
        });
        Ok(init)
    }

    /// As [`Rendition::begin_discontinuity`], with the numbers given: the next segments use
    /// init segment `init` (a new one, or the current one again when `config` is the same)
    /// and are numbered from `first_number` on (at least the next number; the numbers
    /// between are skipped). For files already written under these numbers, as a live
    /// recording's are.
    pub fn begin_discontinuity_at(
        &mut self,
        config: TrackConfig,
        init: u32,
        first_number: u64,
    ) -> Result<(), VodError> {
        self.check_discontinuity(&config)?;
        let (latest, _) = self.latest_init();
        let latest_config = self
            .discontinuities
            .last()
            .map_or(&self.config, |d| &d.config);
        if init < latest || (init == latest && config != *latest_config) {
            return Err(VodError::InitNumber {
                rendition: self.name.clone(),
                init,
                latest,
            });
        }
        if first_number < self.next_number() {
            return Err(VodError::NumberSkipped {
                rendition: self.name.clone(),
                number: first_number,
                next: self.next_number(),
            });
        }
        self.discontinuities.push(Discontinuity {
            init,
            first: self.segments.len(),
            first_number,
            config,
        });
        Ok(())
    }

    /// A discontinuity may begin now, with `config`.
    fn check_discontinuity(&self, config: &TrackConfig) -> Result<(), VodError> {
        if self.complete {
            return Err(VodError::Finished(self.name.clone()));
        }
        self.check_latest_init_used()?;
        self.check_same_kind(config)?;
        config.validate()?;
        if config.timescale() != self.timescale() {
            return Err(VodError::TimescaleChange {
                rendition: self.name.clone(),
                timescale: config.timescale(),
                expected: self.timescale(),
            });
        }
        Ok(())
    }

    fn check_same_kind(&self, config: &TrackConfig) -> Result<(), VodError> {
        match (self.is_video(), config.codec.is_video()) {
            (true, false) => Err(VodError::NotVideo(self.name.clone())),
            (false, true) => Err(VodError::NotAudio(self.name.clone())),
            _ => Ok(()),
        }
    }

    /// The number of the latest init segment and the index of its first segment.
    fn latest_init(&self) -> (u32, usize) {
        self.discontinuities
            .last()
            .map_or((self.init, 0), |d| (d.init, d.first))
    }

    /// Some segment uses the latest init segment.
    fn check_latest_init_used(&self) -> Result<(), VodError> {
        match self.latest_init() {
            (_, first) if first < self.segments.len() => Ok(()),
            _ if self.discontinuities.is_empty() => Err(VodError::NoSegments(self.name.clone())),
            (init, _) => Err(VodError::EmptyInit {
                rendition: self.name.clone(),
                init,
            }),
        }
    }

    /// The rendition is complete: its media playlist becomes a `VOD` playlist and a
    /// [`super::Presentation`] may list it. Refused while it has no segments, or none since
    /// the last discontinuity.
    pub fn finish(&mut self) -> Result<(), VodError> {
        self.check_latest_init_used()?;
        self.complete = true;
        Ok(())
    }

    /// The file the next segment goes to.
    pub fn next_segment(&self) -> AssetFile<'_> {
        AssetFile::Segment(&self.name, self.next_number())
    }

    /// The number the next segment gets.
    pub(crate) fn next_number(&self) -> u64 {
        self.number_at(self.segments.len())
    }

    /// The number of the segment at `index` in [`Rendition::segments`] (or of the next one).
    fn number_at(&self, index: usize) -> u64 {
        let (first, first_number) = self
            .discontinuities
            .iter()
            .rev()
            .find(|d| d.first <= index)
            .map_or((0, self.first_number), |d| (d.first, d.first_number));
        first_number + (index - first) as u64
    }

    /// Its folder and DASH Representation id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The track, as its first init segment describes it.
    pub fn config(&self) -> &TrackConfig {
        &self.config
    }

    /// The track of every run of segments, in order: the first init segment's, then the
    /// one of each discontinuity.
    pub fn configs(&self) -> impl Iterator<Item = &TrackConfig> {
        std::iter::once(&self.config).chain(self.discontinuities.iter().map(|d| &d.config))
    }

    /// The number of the init segment that segment `number` uses, if it exists.
    pub fn init_of(&self, number: u64) -> Option<u32> {
        self.parts()
            .find(|part| {
                (part.first_number..part.first_number + part.segments.len() as u64)
                    .contains(&number)
            })
            .map(|part| part.init)
    }

    /// The numbers of the segments that follow a discontinuity, in order (the segments
    /// written so far).
    pub fn discontinuities(&self) -> impl Iterator<Item = u64> {
        self.discontinuities
            .iter()
            .filter(|d| d.first < self.segments.len())
            .map(|d| d.first_number)
    }

    /// The segments in runs that use one init segment, in order. An init segment that no
    /// segment uses yet (a discontinuity just begun) is left out.
    pub fn parts(&self) -> impl Iterator<Item = Part<'_>> {
        let starts = std::iter::once((self.init, 0, self.first_number, &self.config)).chain(
            self.discontinuities
                .iter()
                .map(|d| (d.init, d.first, d.first_number, &d.config)),
        );
        let ends = self
            .discontinuities
            .iter()
            .map(|d| d.first)
            .chain(std::iter::once(self.segments.len()));
        starts
            .zip(ends)
            .filter(|((_, first, _, _), end)| first < end)
            .map(|((init, first, first_number, config), end)| Part {
                init,
                config,
                first_number,
                segments: &self.segments[first..end],
            })
    }

    /// True for video.
    pub fn is_video(&self) -> bool {
        matches!(self.detail, Detail::Video { .. })
    }

    /// Frame rate of a video rendition.
    pub fn frame_rate(&self) -> Option<FrameRate> {
        match self.detail {
            Detail::Video { frame_rate } => Some(frame_rate),
            Detail::Audio { .. } => None,
        }
    }

    /// Language of an audio rendition, when known.
    pub fn language(&self) -> Option<&str> {
        match &self.detail {
            Detail::Video { .. } => None,
            Detail::Audio { language } => language.as_deref(),
        }
    }

    /// Ticks per second of every time of this rendition.
    pub fn timescale(&self) -> u32 {
        self.config.timescale()
    }

    /// The segments in order; the first is number [`FIRST_SEGMENT_NUMBER`] unless
    /// [`Rendition::number_from`] said otherwise.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segments with their numbers.
    pub fn numbered_segments(&self) -> impl Iterator<Item = (u64, &Segment)> {
        self.parts()
            .flat_map(|part| (part.first_number..).zip(part.segments))
    }

    /// True once [`Rendition::finish`] was called.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Where the last segment ends, in the rendition's timescale (0 without segments).
    pub fn end(&self) -> u128 {
        self.segments.last().map_or(0, Segment::end)
    }

    /// The longest segment duration, in the rendition's timescale (0 without segments).
    pub fn longest_segment(&self) -> u64 {
        self.segments.iter().map(|s| s.duration).max().unwrap_or(0)
    }

    /// Measured over the segments: the peak is the highest bitrate of one segment (size × 8 /
    /// duration), the average total size × 8 / total duration; both rounded up, zero without
    /// segments.
    pub fn bandwidth(&self) -> Bandwidth {
        let timescale = self.timescale();
        let peak_bps = self
            .segments
            .iter()
            .map(|s| bits_per_second(s.size, s.duration, timescale))
            .max()
            .unwrap_or(0);
        let (size, duration) = self.segments.iter().fold((0u64, 0u64), |(size, d), s| {
            (size.saturating_add(s.size), d.saturating_add(s.duration))
        });
        Bandwidth {
            peak_bps,
            average_bps: bits_per_second(size, duration, timescale),
        }
    }
}

/// A BCP 47 language tag as far as manifests care: a 2 to 8 letter primary subtag, then
/// subtags of 1 to 8 letters or digits, joined by hyphens. Nothing that needs escaping in a
/// playlist attribute or an XML attribute.
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or("");
    (2..=8).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;
    use crate::track::fixtures::{audio, video};

    fn seg(start: u64, duration: u64, size: u64) -> Segment {
        Segment {
            start,
            duration,
            size,
        }
    }

    #[test]
    fn frame_rates_reduce_compare_and_print() {
        let ntsc = FrameRate::new(60_000, 2002).unwrap();
        assert_eq!((ntsc.num(), ntsc.den()), (30_000, 1001));
        assert_eq!(ntsc.to_string(), "30000/1001");
        let thirty = FrameRate::new(60, 2).unwrap();
        assert_eq!(thirty.to_string(), "30");
        assert!(ntsc < thirty);
        assert_eq!(
            FrameRate::new(0, 1),
            Err(VodError::FrameRate { num: 0, den: 1 })
        );
        assert_eq!(
            FrameRate::new(25, 0),
            Err(VodError::FrameRate { num: 25, den: 0 })
        );
    }

    #[test]
    fn constructors_check_kind_name_config_and_language() {
        let rate = FrameRate::new(30, 1).unwrap();
        assert_eq!(
            Rendition::video("a", audio(), rate),
            Err(VodError::NotVideo("a".into()))
        );
        assert_eq!(
            Rendition::audio("v", video(), None),
            Err(VodError::NotAudio("v".into()))
        );
        assert_eq!(
            Rendition::video("../x", video(), rate),
            Err(VodError::Config(ConfigError::RenditionName("../x".into())))
        );
        let mut broken = video();
        broken.width = 0;
        assert!(matches!(
            Rendition::video("v", broken, rate),
            Err(VodError::Config(ConfigError::Dimensions { .. }))
        ));
        for good in ["en", "pt-BR", "zh-Hant-TW", "es-419"] {
            let r = Rendition::audio("a", audio(), Some(good)).unwrap();
            assert_eq!(r.language(), Some(good));
        }
        for bad in [
            "",
            "e",
            "en-",
            "-en",
            "1a",
            "en\"",
            "en us",
            "en-toolongsubtag",
        ] {
            assert_eq!(
                Rendition::audio("a", audio(), Some(bad)),
                Err(VodError::Language(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn segments_are_numbered_and_checked() {
        let mut r = Rendition::audio("aac", audio(), None).unwrap();
        assert_eq!(r.next_segment(), AssetFile::Segment("aac", 1));
        assert_eq!(r.push_segment(seg(0, 96_000, 10)), Ok(1));
        assert_eq!(
            r.push_segment(seg(90_000, 1000, 10)),
            Err(VodError::Overlap {
                rendition: "aac".into(),
                number: 2,
                start: 90_000,
                previous_end: 96_000,
            })
        );
        assert_eq!(
            r.push_segment(seg(96_000, 0, 10)),
            Err(VodError::ZeroDuration {
                rendition: "aac".into(),
                number: 2,
            })
        );
        // A gap is allowed.
        assert_eq!(r.push_segment(seg(100_000, 48_000, 10)), Ok(2));
        assert_eq!(r.next_segment(), AssetFile::Segment("aac", 3));
        assert_eq!(r.end(), 148_000);
        assert!(!r.is_complete());
        r.finish().unwrap();
        assert!(r.is_complete());
        assert_eq!(
            r.push_segment(seg(148_000, 1, 1)),
            Err(VodError::Finished("aac".into()))
        );
        let numbers: Vec<u64> = r.numbered_segments().map(|(n, _)| n).collect();
        assert_eq!(numbers, [1, 2]);
    }

    #[test]
    fn an_empty_rendition_cannot_finish() {
        let mut r = Rendition::audio("aac", audio(), None).unwrap();
        assert_eq!(r.finish(), Err(VodError::NoSegments("aac".into())));
        assert_eq!(r.bandwidth(), Bandwidth::default());
    }

    #[test]
    fn bandwidth_is_measured_over_segments() {
        let mut r = Rendition::video("v", video(), FrameRate::new(30, 1).unwrap()).unwrap();
        // 4 s of 500 kB (1 Mb/s), 4 s of 1 MB (2 Mb/s), 1 s of 300 kB (2.4 Mb/s).
        r.push_segment(seg(0, 360_000, 500_000)).unwrap();
        r.push_segment(seg(360_000, 360_000, 1_000_000)).unwrap();
        r.push_segment(seg(720_000, 90_000, 300_000)).unwrap();
        assert_eq!(
            r.bandwidth(),
            Bandwidth {
                peak_bps: 2_400_000,
                // 14.4 Mb over 9 s.
                average_bps: 1_600_000,
            }
        );
        assert_eq!(r.longest_segment(), 360_000);
    }

    #[test]
    fn a_discontinuity_starts_a_new_init_segment() {
        let mut r = Rendition::video("v", video(), FrameRate::new(30, 1).unwrap()).unwrap();
        r.push_segment(seg(0, 360_000, 10)).unwrap();
        r.push_segment(seg(360_000, 360_000, 10)).unwrap();
        let mut hd = video();
        (hd.width, hd.height) = (1920, 1080);
        assert_eq!(r.begin_discontinuity(hd.clone()), Ok(1));
        // The timeline jumps 2 s; the segment numbers go on.
        assert_eq!(r.next_segment(), AssetFile::Segment("v", 3));
        assert_eq!(r.push_segment(seg(900_000, 360_000, 10)), Ok(3));
        assert_eq!(r.begin_discontinuity(video()), Ok(2));
        r.push_segment(seg(1_260_000, 90_000, 10)).unwrap();
        r.push_segment(seg(1_350_000, 90_000, 10)).unwrap();
        r.finish().unwrap();

        assert_eq!(r.config(), &video());
        let configs: Vec<&TrackConfig> = r.configs().collect();
        assert_eq!(configs, [&video(), &hd, &video()]);
        let inits: Vec<Option<u32>> = (0..=6).map(|n| r.init_of(n)).collect();
        assert_eq!(
            inits,
            [None, Some(0), Some(0), Some(1), Some(2), Some(2), None]
        );
        assert_eq!(r.discontinuities().collect::<Vec<_>>(), [3, 4]);
        let parts: Vec<(u32, u64, usize)> = r
            .parts()
            .map(|p| (p.init, p.first_number, p.segments.len()))
            .collect();
        assert_eq!(parts, [(0, 1, 2), (1, 3, 1), (2, 4, 2)]);
    }

    #[test]
    fn a_discontinuity_needs_segments_on_both_sides() {
        let mut r = Rendition::audio("aac", audio(), None).unwrap();
        assert_eq!(
            r.begin_discontinuity(audio()),
            Err(VodError::NoSegments("aac".into()))
        );
        r.push_segment(seg(0, 96_000, 10)).unwrap();
        assert_eq!(r.begin_discontinuity(audio()), Ok(1));
        let empty = || VodError::EmptyInit {
            rendition: "aac".into(),
            init: 1,
        };
        assert_eq!(r.begin_discontinuity(audio()), Err(empty()));
        assert_eq!(r.finish(), Err(empty()));
        // Begun but not yet used: no segment follows it so far.
        assert_eq!(r.discontinuities().count(), 0);
        assert_eq!(r.parts().count(), 1);
        r.push_segment(seg(144_000, 96_000, 10)).unwrap();
        r.finish().unwrap();
        assert_eq!(
            r.begin_discontinuity(audio()),
            Err(VodError::Finished("aac".into()))
        );
    }

    #[test]
    fn a_discontinuity_keeps_the_kind_and_timescale() {
        let mut v = Rendition::video("v", video(), FrameRate::new(30, 1).unwrap()).unwrap();
        v.push_segment(seg(0, 90_000, 10)).unwrap();
        assert_eq!(
            v.begin_discontinuity(audio()),
            Err(VodError::NotVideo("v".into()))
        );
        let mut broken = video();
        broken.codec_string = "avc1\"".into();
        assert_eq!(
            v.begin_discontinuity(broken),
            Err(VodError::Config(ConfigError::CodecString("avc1\"".into())))
        );
        let mut a = Rendition::audio("a", audio(), None).unwrap();
        a.push_segment(seg(0, 48_000, 10)).unwrap();
        assert_eq!(
            a.begin_discontinuity(video()),
            Err(VodError::NotAudio("a".into()))
        );
        let mut cd = audio();
        cd.sample_rate = 44_100;
        assert_eq!(
            a.begin_discontinuity(cd),
            Err(VodError::TimescaleChange {
                rendition: "a".into(),
                timescale: 44_100,
                expected: 48_000,
            })
        );
        // Nothing refused was kept.
        assert_eq!(v.configs().count(), 1);
        assert_eq!(a.configs().count(), 1);
    }
}
