//! Which renditions an asset gets, and in which jobs, decided from its probe.
//!
//! - `first`: playable in seconds, with the audio renditions. An H.264
//!   source that needs no fixing (8-bit 4:2:0, upright, at most `max_fps`)
//!   is repackaged as is. Any other is decoded once into every rung up to
//!   `split_above`, the lowest published segment by segment as it is made
//!   (so it plays after its first segments) and the others when done.
//! - `ladder` (repackaged sources): the rungs up to `split_above` in one
//!   decode, their keyframes at the source's.
//! - one job per rung above `split_above` (1440p, 2160p), after the others,
//!   so 360p never waits for 4K.
//!
//! A repackaged source keeps its rung's name when its bitrate suits that
//! rung (its height is a rung's, its bitrate at most `copy_max_ratio` of
//! the rung's); otherwise it is `source`, a temporary rendition withdrawn
//! once the encoded rung of its height is published.

use serde::{Deserialize, Serialize};

use super::transcode_spec::{AudioOut, Keyframes, TranscodeSpec, VideoOut};
use crate::ladder::{Rung, rung_width};
use crate::media_probe::{AudioInfo, SourceInfo, VideoInfo};

/// The job kind of every rendition job.
pub const TRANSCODE: &str = "transcode";
/// The temporary rendition's name.
pub const TEMPORARY: &str = "source";
pub const FIRST: &str = "first";
pub const LADDER: &str = "ladder";
/// The profile of a recording's ladder job: made from the asset's recorded
/// `source` rendition, part by part, cut where it is cut.
pub const RECORDING: &str = "recording";

/// The VOD ladder's settings (`[vod]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VodLadder {
    /// Any order; only those up to the source's height are made.
    pub rungs: Vec<Rung>,
    /// x264 preset of the encoded rungs.
    pub preset: String,
    /// Keyframe interval of encoded rungs when the source is not repackaged.
    pub keyframe_secs: f64,
    pub segment_secs: f64,
    pub max_fps: u32,
    /// AAC bitrates of the audio ladder of an audio-only asset (each at most
    /// the source's); a video's audio gets the middle one.
    pub audio_kbps: Vec<u32>,
    /// Rungs taller than this run as jobs of their own.
    pub split_above: u32,
    /// A repackaged source is a permanent rung up to this multiple of the
    /// rung's bitrate.
    pub copy_max_ratio: f64,
    /// An H.264 source is repackaged only when its keyframes are at most
    /// this far apart (its segments are cut at them).
    pub copy_max_keyframe_gap_secs: f64,
}

impl Default for VodLadder {
    fn default() -> Self {
        let rung = |height: u32, bitrate_kbps: u32| Rung {
            name: format!("{height}p"),
            height,
            bitrate_kbps,
        };
        VodLadder {
            rungs: vec![
                rung(2160, 16_000),
                rung(1440, 9_000),
                rung(1080, 5_000),
                rung(720, 2_800),
                rung(480, 1_400),
                rung(360, 800),
            ],
            preset: "medium".into(),
            keyframe_secs: 2.0,
            segment_secs: 4.0,
            max_fps: 60,
            audio_kbps: vec![64, 128, 192],
            split_above: 1080,
            copy_max_ratio: 1.5,
            copy_max_keyframe_gap_secs: 6.0,
        }
    }
}

/// One job of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedJob {
    pub profile: String,
    /// Higher runs first.
    pub priority: i64,
    pub spec: TranscodeSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub jobs: Vec<PlannedJob>,
}

/// Why a source gets no plan; the asset fails with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the file has neither video nor audio")]
    NoStreams,
    #[error("a {0}x{1} picture is outside what the ladder takes (16 to 8192 pixels a side)")]
    Resolution(u32, u32),
    #[error("the file lasts {0:.0} s, more than the longest the ladder takes ({1} s)")]
    Duration(f64, u64),
}

impl PlanError {
    pub fn code(&self) -> &'static str {
        match self {
            PlanError::NoStreams => "no_streams",
            PlanError::Resolution(..) => "unsupported_resolution",
            PlanError::Duration(..) => "too_long",
        }
    }
}

const MIN_SIDE: u32 = 16;
const MAX_SIDE: u32 = 8192;
/// Two days: longer is a broken duration or not a video anyone uploads.
const MAX_DURATION_SECS: u64 = 48 * 3600;
const FIRST_PRIORITY: i64 = 90;
const LADDER_PRIORITY: i64 = 80;
const TOP_PRIORITY: i64 = 70;
/// The smallest bitrate an encoded rung of a tiny source gets.
const MIN_KBPS: u32 = 100;

/// The jobs that make an asset's renditions.
pub fn plan(source: &SourceInfo, settings: &VodLadder) -> Result<Plan, PlanError> {
    if source.duration > MAX_DURATION_SECS as f64 {
        return Err(PlanError::Duration(source.duration, MAX_DURATION_SECS));
    }
    let audio = audio_renditions(source, settings);
    let Some(video) = &source.video else {
        if audio.is_empty() {
            return Err(PlanError::NoStreams);
        }
        let mut first = job(
            FIRST,
            FIRST_PRIORITY,
            Vec::new(),
            audio,
            Keyframes::Source,
            settings,
        );
        publish_early(&mut first.spec);
        return Ok(Plan { jobs: vec![first] });
    };
    let (width, height) = video.upright();
    if !(MIN_SIDE..=MAX_SIDE).contains(&width) || !(MIN_SIDE..=MAX_SIDE).contains(&height) {
        return Err(PlanError::Resolution(width, height));
    }
    let rungs = rungs_for(settings, height);
    let encode = |rung: &Rung| VideoOut::Encode {
        name: rung.name.clone(),
        width: rung_width(width, height, rung.height),
        height: rung.height,
        bitrate_kbps: rung.bitrate_kbps,
    };
    let (top, below): (Vec<&Rung>, Vec<&Rung>) = rungs
        .iter()
        .partition(|rung| rung.height > settings.split_above);
    let mut jobs = Vec::new();
    let keyframes = if repackageable(video, settings) {
        // Which rung the source stands for, if it may stand for one.
        let standing = rungs.iter().find(|rung| {
            rung.height == height
                && video.bitrate.is_some_and(|bps| {
                    f64::from(bps)
                        <= f64::from(rung.bitrate_kbps) * 1000.0 * settings.copy_max_ratio
                })
        });
        let name = standing.map_or(TEMPORARY.to_owned(), |rung| rung.name.clone());
        let copy = VideoOut::Copy { name };
        jobs.push(job(
            FIRST,
            FIRST_PRIORITY,
            vec![copy],
            audio,
            Keyframes::Source,
            settings,
        ));
        let ladder: Vec<VideoOut> = below
            .into_iter()
            .filter(|rung| Some(*rung) != standing)
            .map(encode)
            .collect();
        if !ladder.is_empty() {
            jobs.push(job(
                LADDER,
                LADDER_PRIORITY,
                ladder,
                Vec::new(),
                Keyframes::Source,
                settings,
            ));
        }
        Keyframes::Source
    } else {
        let keyframes = Keyframes::Every {
            secs: settings.keyframe_secs,
        };
        // A source taller than `split_above` still gets its lower rungs
        // first; one that is all top rungs gets its lowest.
        let first = match below.is_empty() {
            true => &top[top.len().saturating_sub(1)..],
            false => &below[..],
        };
        let video = first.iter().copied().map(encode).collect();
        jobs.push(job(
            FIRST,
            FIRST_PRIORITY,
            video,
            audio,
            keyframes,
            settings,
        ));
        keyframes
    };
    publish_early(&mut jobs[0].spec);
    let made_first: Vec<&str> = jobs[0].spec.names().collect();
    let top: Vec<&Rung> = top
        .into_iter()
        .filter(|rung| !made_first.contains(&rung.name.as_str()))
        .collect();
    // The largest last: it takes the longest.
    for rung in top.into_iter().rev() {
        jobs.push(job(
            &rung.name,
            TOP_PRIORITY,
            vec![encode(rung)],
            Vec::new(),
            keyframes,
            settings,
        ));
    }
    Ok(Plan { jobs })
}

/// The first job's smallest video rendition and its audio are published
/// segment by segment as they are made: the asset plays after their first
/// segments.
fn publish_early(spec: &mut TranscodeSpec) {
    let smallest = spec.video.last().map(VideoOut::name);
    let audio = spec.audio.iter().map(AudioOut::name);
    spec.early = smallest
        .into_iter()
        .chain(audio)
        .map(str::to_owned)
        .collect();
}

fn job(
    profile: &str,
    priority: i64,
    video: Vec<VideoOut>,
    audio: Vec<AudioOut>,
    keyframes: Keyframes,
    settings: &VodLadder,
) -> PlannedJob {
    PlannedJob {
        profile: profile.to_owned(),
        priority,
        spec: TranscodeSpec {
            video,
            audio,
            keyframes,
            segment_secs: settings.segment_secs,
            preset: settings.preset.clone(),
            max_fps: settings.max_fps,
            early: Vec::new(),
            cuts: Vec::new(),
        },
    }
}

/// A recorded video rendition, as the ladder of its asset needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordedVideo {
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u64,
}

/// The ladder job of a recording: the rungs below the source's height, and
/// the rung of its height when the source's bitrate is over
/// `copy_max_ratio` times the rung's; the source itself stays as recorded
/// (H.264, whose keyframes the rungs get). None when that is nothing.
pub fn recording_ladder(source: &RecordedVideo, settings: &VodLadder) -> Option<PlannedJob> {
    let video: Vec<VideoOut> = rungs_for(settings, source.height)
        .into_iter()
        .filter(|rung| {
            rung.height < source.height
                || source.bitrate_bps as f64
                    > f64::from(rung.bitrate_kbps) * 1000.0 * settings.copy_max_ratio
        })
        .map(|rung| VideoOut::Encode {
            width: rung_width(source.width, source.height, rung.height),
            height: rung.height,
            bitrate_kbps: rung.bitrate_kbps,
            name: rung.name,
        })
        .collect();
    (!video.is_empty()).then(|| {
        job(
            RECORDING,
            LADDER_PRIORITY,
            video,
            Vec::new(),
            Keyframes::Source,
            settings,
        )
    })
}

/// The rungs up to the source's height, largest first; a source below the
/// smallest rung gets one rung of its own height.
fn rungs_for(settings: &VodLadder, height: u32) -> Vec<Rung> {
    let mut rungs: Vec<Rung> = settings
        .rungs
        .iter()
        .filter(|rung| rung.height <= height)
        .cloned()
        .collect();
    rungs.sort_by_key(|rung| std::cmp::Reverse(rung.height));
    if rungs.is_empty() {
        let even = (height & !1).max(2);
        let smallest = settings.rungs.iter().min_by_key(|rung| rung.height);
        let bitrate_kbps = smallest.map_or(MIN_KBPS, |rung| {
            let scaled =
                u64::from(rung.bitrate_kbps) * u64::from(even) / u64::from(rung.height.max(1));
            u32::try_from(scaled).unwrap_or(u32::MAX).max(MIN_KBPS)
        });
        rungs.push(Rung {
            name: format!("{even}p"),
            height: even,
            bitrate_kbps,
        });
    }
    rungs
}

/// H.264 players take as it is: 8-bit 4:2:0, upright, at most `max_fps`,
/// keyframes close enough to cut segments at.
fn repackageable(video: &VideoInfo, settings: &VodLadder) -> bool {
    video.codec == "h264"
        && video.rotation == 0
        && video
            .keyframe_gap
            .is_none_or(|gap| gap <= settings.copy_max_keyframe_gap_secs + 0.01)
        && video.bit_depth.is_none_or(|depth| depth == 8)
        && video
            .chroma_format
            .as_deref()
            .is_none_or(|chroma| chroma == "4:2:0")
        && video
            .fps
            .is_none_or(|fps| fps <= f64::from(settings.max_fps) + 0.01)
}

/// AAC is kept as it is; other audio is encoded. A video's audio is one
/// rendition; an audio-only asset gets the audio ladder, never above the
/// source's bitrate.
fn audio_renditions(source: &SourceInfo, settings: &VodLadder) -> Vec<AudioOut> {
    let Some(audio) = &source.audio else {
        return Vec::new();
    };
    if source.video.is_some() {
        if audio.codec == "aac" {
            return vec![AudioOut::Copy {
                name: "audio".into(),
            }];
        }
        let middle = settings
            .audio_kbps
            .get(settings.audio_kbps.len() / 2)
            .copied();
        return vec![AudioOut::Encode {
            name: "audio".into(),
            bitrate_kbps: capped(middle.unwrap_or(128), audio),
        }];
    }
    let mut kbps: Vec<u32> = settings
        .audio_kbps
        .iter()
        .map(|&kbps| capped(kbps, audio))
        .collect();
    kbps.sort_unstable();
    // A rung capped at the source's bitrate just above another (128 and a
    // source of 129) would be the same thing twice.
    kbps.dedup_by(|higher, lower| u64::from(*higher) * 10 <= u64::from(*lower) * 11);
    kbps.into_iter()
        .map(|bitrate_kbps| AudioOut::Encode {
            name: format!("audio-{bitrate_kbps}k"),
            bitrate_kbps,
        })
        .collect()
}

/// `kbps`, or the source's bitrate when lower (never below 32 kbit/s).
fn capped(kbps: u32, audio: &AudioInfo) -> u32 {
    audio
        .bitrate
        .map_or(kbps, |bps| kbps.min((bps / 1000).max(32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(codec: &str, width: u32, height: u32) -> SourceInfo {
        SourceInfo {
            container: "mp4".into(),
            duration: 60.0,
            video: Some(VideoInfo {
                codec: codec.into(),
                width,
                height,
                fps: Some(30.0),
                rotation: 0,
                profile: Some("high".into()),
                bit_depth: Some(8),
                chroma_format: Some("4:2:0".into()),
                bitrate: Some(4_000_000),
                keyframe_gap: Some(2.0),
            }),
            audio: Some(AudioInfo {
                codec: "aac".into(),
                sample_rate: 48_000,
                channels: 2,
                bitrate: Some(128_000),
            }),
        }
    }

    fn names(job: &PlannedJob) -> Vec<&str> {
        job.spec
            .video
            .iter()
            .map(VideoOut::name)
            .chain(job.spec.audio.iter().map(AudioOut::name))
            .collect()
    }

    fn profiles(plan: &Plan) -> Vec<&str> {
        plan.jobs.iter().map(|job| job.profile.as_str()).collect()
    }

    #[test]
    fn an_h264_1080p_source_is_repackaged_as_its_rung_then_laddered() {
        let plan = plan(&source("h264", 1920, 1080), &VodLadder::default()).unwrap();
        assert_eq!(profiles(&plan), [FIRST, LADDER]);
        assert_eq!(names(&plan.jobs[0]), ["1080p", "audio"]);
        assert!(matches!(plan.jobs[0].spec.video[0], VideoOut::Copy { .. }));
        assert!(matches!(plan.jobs[0].spec.audio[0], AudioOut::Copy { .. }));
        assert_eq!(names(&plan.jobs[1]), ["720p", "480p", "360p"]);
        assert_eq!(
            plan.jobs[1].spec.video[0],
            VideoOut::Encode {
                name: "720p".into(),
                width: 1280,
                height: 720,
                bitrate_kbps: 2800
            }
        );
        assert!(
            plan.jobs
                .iter()
                .all(|job| job.spec.keyframes == Keyframes::Source)
        );
        assert!(plan.jobs[0].priority > plan.jobs[1].priority);
        assert_eq!(plan.jobs[0].spec.early, ["1080p", "audio"]);
        assert!(plan.jobs[1].spec.early.is_empty());
    }

    #[test]
    fn a_source_between_rungs_or_too_rich_is_a_temporary_rendition() {
        // 1000 lines: the next rung down and those below.
        let plan = plan(&source("h264", 1778, 1000), &VodLadder::default()).unwrap();
        assert_eq!(names(&plan.jobs[0]), [TEMPORARY, "audio"]);
        assert_eq!(names(&plan.jobs[1]), ["720p", "480p", "360p"]);
        // 1080 lines at 20 Mbit/s: far above the 1080p rung.
        let mut rich = source("h264", 1920, 1080);
        rich.video.as_mut().unwrap().bitrate = Some(20_000_000);
        let plan = super::plan(&rich, &VodLadder::default()).unwrap();
        assert_eq!(names(&plan.jobs[0]), [TEMPORARY, "audio"]);
        assert_eq!(names(&plan.jobs[1]), ["1080p", "720p", "480p", "360p"]);
    }

    #[test]
    fn other_sources_get_their_rungs_in_one_decode_the_lowest_early() {
        for fix in [
            |s: &mut SourceInfo| s.video.as_mut().unwrap().codec = "hevc".into(),
            |s: &mut SourceInfo| s.video.as_mut().unwrap().bit_depth = Some(10),
            |s: &mut SourceInfo| s.video.as_mut().unwrap().chroma_format = Some("4:2:2".into()),
            |s: &mut SourceInfo| s.video.as_mut().unwrap().fps = Some(120.0),
            |s: &mut SourceInfo| s.video.as_mut().unwrap().rotation = 180,
            |s: &mut SourceInfo| s.video.as_mut().unwrap().keyframe_gap = Some(10.0),
        ] {
            let mut source = source("h264", 1920, 1080);
            fix(&mut source);
            let plan = plan(&source, &VodLadder::default()).unwrap();
            assert_eq!(profiles(&plan), [FIRST]);
            let first = &plan.jobs[0].spec;
            assert_eq!(
                names(&plan.jobs[0]),
                ["1080p", "720p", "480p", "360p", "audio"]
            );
            assert!(
                first
                    .video
                    .iter()
                    .all(|video| matches!(video, VideoOut::Encode { .. }))
            );
            assert_eq!(first.keyframes, Keyframes::Every { secs: 2.0 });
            assert_eq!(first.early, ["360p", "audio"]);
        }
    }

    #[test]
    fn a_4k_source_gets_its_top_rungs_as_jobs_of_their_own_after_the_rest() {
        let plan = plan(&source("vp9", 3840, 2160), &VodLadder::default()).unwrap();
        assert_eq!(profiles(&plan), [FIRST, "1440p", "2160p"]);
        assert_eq!(
            names(&plan.jobs[0]),
            ["1080p", "720p", "480p", "360p", "audio"]
        );
        assert!(plan.jobs[1].priority < plan.jobs[0].priority);
        assert_eq!(names(&plan.jobs[2]), ["2160p"]);
        let h264 = super::plan(&source("h264", 3840, 2160), &VodLadder::default()).unwrap();
        // Its 4 Mbit/s stand for 2160p: the copy is that rung.
        assert_eq!(profiles(&h264), [FIRST, LADDER, "1440p"]);
        assert_eq!(names(&h264.jobs[0]), ["2160p", "audio"]);
        assert_eq!(names(&h264.jobs[1]), ["1080p", "720p", "480p", "360p"]);

        let all_top = VodLadder {
            split_above: 100,
            ..VodLadder::default()
        };
        let plan = super::plan(&source("vp9", 3840, 2160), &all_top).unwrap();
        assert_eq!(names(&plan.jobs[0]), ["360p", "audio"]);
        assert_eq!(plan.jobs.len(), 6);
    }

    #[test]
    fn a_portrait_phone_video_is_laddered_upright() {
        let mut phone = source("hevc", 1920, 1080);
        phone.video.as_mut().unwrap().rotation = 90;
        let plan = plan(&phone, &VodLadder::default()).unwrap();
        // 1080 wide, 1920 tall: every rung up to 1440p fits.
        assert_eq!(profiles(&plan), [FIRST, "1440p"]);
        assert_eq!(
            plan.jobs[0].spec.video[3],
            VideoOut::Encode {
                name: "360p".into(),
                width: 202,
                height: 360,
                bitrate_kbps: 800
            }
        );
    }

    #[test]
    fn a_tiny_source_gets_one_rung_of_its_own_height() {
        let plan = plan(&source("mpeg4", 176, 144), &VodLadder::default()).unwrap();
        assert_eq!(profiles(&plan), [FIRST]);
        assert_eq!(
            plan.jobs[0].spec.video[0],
            VideoOut::Encode {
                name: "144p".into(),
                width: 176,
                height: 144,
                bitrate_kbps: 320
            }
        );
    }

    #[test]
    fn audio_only_gets_the_audio_ladder_up_to_the_source_bitrate() {
        let mut song = source("h264", 0, 0);
        song.video = None;
        song.audio.as_mut().unwrap().codec = "mp3".into();
        song.audio.as_mut().unwrap().bitrate = Some(128_000);
        let plan = plan(&song, &VodLadder::default()).unwrap();
        assert_eq!(profiles(&plan), [FIRST]);
        assert_eq!(names(&plan.jobs[0]), ["audio-64k", "audio-128k"]);
        assert_eq!(plan.jobs[0].spec.early, ["audio-64k", "audio-128k"]);
        song.audio.as_mut().unwrap().bitrate = Some(131_000);
        let plan = super::plan(&song, &VodLadder::default()).unwrap();
        assert_eq!(names(&plan.jobs[0]), ["audio-64k", "audio-128k"]);
        // A video's Opus track is encoded once, at the middle bitrate.
        let mut video = source("h264", 1280, 720);
        video.audio.as_mut().unwrap().codec = "opus".into();
        video.audio.as_mut().unwrap().bitrate = None;
        let plan = super::plan(&video, &VodLadder::default()).unwrap();
        assert_eq!(
            plan.jobs[0].spec.audio,
            [AudioOut::Encode {
                name: "audio".into(),
                bitrate_kbps: 128
            }]
        );
    }

    #[test]
    fn absurd_sources_are_refused() {
        let err = |source: &SourceInfo| plan(source, &VodLadder::default()).unwrap_err();
        assert_eq!(
            err(&source("h264", 100_000, 1080)).code(),
            "unsupported_resolution"
        );
        assert_eq!(err(&source("h264", 8, 8)).code(), "unsupported_resolution");
        let mut long = source("h264", 1280, 720);
        long.duration = 1e9;
        assert_eq!(err(&long).code(), "too_long");
        let mut nothing = source("h264", 1280, 720);
        nothing.video = None;
        nothing.audio = None;
        assert_eq!(err(&nothing), PlanError::NoStreams);
    }

    #[test]
    fn a_recording_gets_the_rungs_below_it_and_its_own_height_when_too_costly() {
        let settings = VodLadder::default();
        let recorded = |height: u32, bitrate_bps: u64| RecordedVideo {
            width: height * 16 / 9,
            height,
            bitrate_bps,
        };
        let job = recording_ladder(&recorded(1080, 6_000_000), &settings).unwrap();
        assert_eq!(job.profile, RECORDING);
        assert_eq!(names(&job), ["720p", "480p", "360p"]);
        assert_eq!(job.spec.keyframes, Keyframes::Source);
        assert!(job.spec.audio.is_empty() && job.spec.early.is_empty());
        // 1080p at 8 Mbit/s is more than 1.5 × 5 Mbit/s: a 1080p rung too.
        let job = recording_ladder(&recorded(1080, 8_000_000), &settings).unwrap();
        assert_eq!(names(&job), ["1080p", "720p", "480p", "360p"]);
        assert!(matches!(
            job.spec.video[0],
            VideoOut::Encode {
                width: 1920,
                height: 1080,
                bitrate_kbps: 5000,
                ..
            }
        ));
        // A 360p recording at a fitting bitrate: nothing to make.
        assert_eq!(recording_ladder(&recorded(360, 700_000), &settings), None);
    }
}
