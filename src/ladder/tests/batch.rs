//! Batch mode: every frame encoded, keyframes where the source has them.

use std::collections::HashMap;

use tokio::sync::mpsc::unbounded_channel;

use super::{Probed, RungOut, Source, annex_b, drain, ffprobe, nal_types};
use crate::ladder::{
    LadderError, LadderMode, LiveLadder, OverloadPolicy, Rung, Tuning, default_rungs, rung_width,
    rungs_for_source,
};

const IDR: u8 = 5;

fn run(source: &Source, rungs: Vec<Rung>, tuning: Tuning) -> HashMap<String, RungOut> {
    let (events, mut received) = unbounded_channel();
    let mut ladder = LiveLadder::start_tuned(
        &source.config,
        rungs,
        LadderMode::Batch,
        tuning,
        OverloadPolicy::default(),
        events,
    )
    .expect("ladder starts");
    for frame in &source.frames {
        ladder.push(frame);
    }
    ladder.finish().expect("ladder drains");
    let mut outputs = HashMap::new();
    let mut notices = Vec::new();
    drain(&mut received, &mut outputs, &mut notices);
    assert!(notices.is_empty(), "{notices:?}");
    outputs
}

/// Every rung: its size, one frame per source frame in pts order with
/// dts == pts, IDR keyframes exactly at the source's keyframes, decodable,
/// colours as the source's.
fn check(source: &Source, outputs: &HashMap<String, RungOut>, rungs: &[Rung]) {
    let mut source_pts: Vec<i64> = source.frames.iter().map(|f| f.pts).collect();
    source_pts.sort_unstable();
    let source_keys = source.keyframe_pts();
    assert!(source_keys.len() >= 2, "the source has several GOPs");
    assert_eq!(outputs.len(), rungs.len());
    for rung in rungs {
        let out = &outputs[&rung.name];
        let width = rung_width(source.config.width, source.config.height, rung.height);
        assert!(!out.frame_before_config, "{}: config first", rung.name);
        let [config] = &out.configs[..] else {
            panic!("{}: one config, got {}", rung.name, out.configs.len());
        };
        assert_eq!(
            (config.width, config.height),
            (width, rung.height),
            "{}",
            rung.name
        );
        assert!(
            config.codec_string.starts_with("avc1.6400"),
            "{}",
            config.codec_string
        );
        let pts: Vec<i64> = out.frames.iter().map(|f| f.pts).collect();
        assert!(
            pts.windows(2).all(|w| w[0] < w[1]),
            "{}: pts increase",
            rung.name
        );
        assert_eq!(pts, source_pts, "{}: one frame per source frame", rung.name);
        for frame in &out.frames {
            assert_eq!(frame.dts, frame.pts);
            let idr = nal_types(&frame.data).contains(&IDR);
            assert_eq!(
                frame.keyframe, idr,
                "{} at {}: keyframe flag is IDR",
                rung.name, frame.pts
            );
        }
        let keys: Vec<i64> = out
            .frames
            .iter()
            .filter(|f| f.keyframe)
            .map(|f| f.pts)
            .collect();
        assert_eq!(
            keys, source_keys,
            "{}: keyframes at the source's",
            rung.name
        );
        // An HD source means BT.709; scaling to SD must not convert it.
        let expected = Probed {
            width,
            height: rung.height,
            color_space: "bt709".into(),
            frames: out.frames.len(),
        };
        assert_eq!(
            ffprobe(&annex_b(out), &rung.name),
            expected,
            "{}: decodes",
            rung.name
        );
    }
}

#[test]
fn cascade_follows_irregular_source_keyframes() {
    let _turn = crate::test_media::heavy_turn();
    // GOPs of 12, 21, 12 and 15 frames: the rungs cannot just count.
    let source = Source::testsrc(
        "1280x720",
        30,
        2.0,
        &[
            "-preset",
            "ultrafast",
            "-bf",
            "0",
            "-g",
            "1000",
            "-sc_threshold",
            "0",
            "-force_key_frames",
            "0,0.4,1.1,1.5",
        ],
    );
    assert_eq!(source.keyframe_pts().len(), 4);
    let mut rungs = rungs_for_source(&default_rungs(), source.config.height);
    rungs.insert(
        0,
        Rung {
            name: "540p".into(),
            height: 540,
            bitrate_kbps: 2000,
        },
    );
    let outputs = run(&source, rungs.clone(), Tuning::default());
    check(&source, &outputs, &rungs);
}

#[test]
fn b_frames_in_the_source_scaled_side_by_side() {
    let _turn = crate::test_media::heavy_turn();
    let source = Source::testsrc(
        "1280x720",
        30,
        2.0,
        &["-preset", "veryfast", "-bf", "2", "-g", "30"],
    );
    assert!(
        source.frames.iter().any(|f| f.pts != f.dts),
        "the source has B-frames"
    );
    let rungs = rungs_for_source(&default_rungs(), source.config.height);
    let tuning = Tuning {
        cascade: false,
        ..Tuning::default()
    };
    let outputs = run(&source, rungs.clone(), tuning);
    check(&source, &outputs, &rungs);
}

#[test]
fn refuses_upscaling_and_empty_ladders() {
    let source = Source::testsrc("640x360", 30, 0.1, &["-preset", "ultrafast"]);
    let (events, _received) = unbounded_channel();
    let start =
        |rungs| LiveLadder::start(&source.config, rungs, LadderMode::Live, events.clone()).err();
    let taller = default_rungs()
        .into_iter()
        .filter(|r| r.height == 480)
        .collect();
    assert!(matches!(
        start(taller),
        Some(LadderError::InvalidRung { .. })
    ));
    assert!(matches!(start(Vec::new()), Some(LadderError::NoRungs)));
    let below = rungs_for_source(&default_rungs(), source.config.height);
    assert!(matches!(start(below), Some(LadderError::NoRungs)));
}
