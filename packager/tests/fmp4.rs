//! Init segments and fragments, read back with the independent `mp4` crate.

mod common;

use std::io::Cursor;

use bytes::Bytes;
use common::{PPS, SPS, audio_config, parse_fragments, top_level_boxes, video_config};
use mp4::{MediaType, Mp4Reader, TrackType};
use packager::fmp4::{FragmentSample, fragment, init_segment};

fn read(init: &Bytes) -> Mp4Reader<Cursor<Vec<u8>>> {
    Mp4Reader::read_header(Cursor::new(init.to_vec()), init.len() as u64).expect("init parses")
}

#[test]
fn video_init_describes_the_track() {
    let init = init_segment(&video_config(1280, 720));
    let boxes: Vec<[u8; 4]> = top_level_boxes(&init)
        .into_iter()
        .map(|(_, _, kind)| kind)
        .collect();
    assert_eq!(boxes, vec![*b"ftyp", *b"moov"]);

    let mp4 = read(&init);
    assert_eq!(mp4.major_brand().to_string(), "iso6");
    let brands: Vec<String> = mp4
        .compatible_brands()
        .iter()
        .map(|b| b.to_string())
        .collect();
    assert!(brands.contains(&"cmfc".to_string()), "{brands:?}");
    assert!(mp4.moov.mvex.is_some(), "fragmented files need mvex");
    assert_eq!(mp4.moov.mvex.as_ref().unwrap().trex.track_id, 1);

    assert_eq!(mp4.tracks().len(), 1);
    let track = &mp4.tracks()[&1];
    assert_eq!(track.track_type().unwrap(), TrackType::Video);
    assert_eq!(track.media_type().unwrap(), MediaType::H264);
    assert_eq!(track.timescale(), 90_000);
    assert_eq!((track.width(), track.height()), (1280, 720));
    assert_eq!(track.sequence_parameter_set().unwrap(), SPS);
    assert_eq!(track.picture_parameter_set().unwrap(), PPS);
    let avcc = &track.trak.mdia.minf.stbl.stsd.avc1.as_ref().unwrap().avcc;
    assert_eq!(avcc.avc_profile_indication, 0x64);
    assert_eq!(avcc.length_size_minus_one & 3, 3);
    assert_eq!(track.trak.tkhd.width.value(), 1280);
}

#[test]
fn audio_init_describes_the_track() {
    let mp4 = read(&init_segment(&audio_config()));
    let track = &mp4.tracks()[&1];
    assert_eq!(track.track_type().unwrap(), TrackType::Audio);
    assert_eq!(track.media_type().unwrap(), MediaType::AAC);
    assert_eq!(track.timescale(), 48_000);
    let mp4a = track.trak.mdia.minf.stbl.stsd.mp4a.as_ref().unwrap();
    assert_eq!(mp4a.channelcount, 2);
    assert_eq!(mp4a.samplerate.value(), 48_000);
    let esds = mp4a.esds.as_ref().expect("esds");
    assert_eq!(esds.es_desc.dec_config.object_type_indication, 0x40);
    assert_eq!(esds.es_desc.dec_config.stream_type, 5);
    let asc = &esds.es_desc.dec_config.dec_specific;
    // 0x11 0x90: object type 2 (AAC-LC), frequency index 3 (48 kHz), 2 channels.
    assert_eq!((asc.profile, asc.freq_index, asc.chan_conf), (2, 3, 2));
}

#[test]
fn long_audio_specific_config_keeps_the_esds_consistent() {
    let mut config = audio_config();
    let mut asc = vec![0x11, 0x90];
    asc.resize(120, 0);
    config.record = Bytes::from(asc);
    let mp4 = read(&init_segment(&config));
    let esds = mp4.tracks()[&1]
        .trak
        .mdia
        .minf
        .stbl
        .stsd
        .mp4a
        .as_ref()
        .unwrap()
        .esds
        .as_ref()
        .unwrap();
    assert_eq!(esds.es_desc.dec_config.dec_specific.freq_index, 3);
}

#[test]
fn fragment_fields_and_data_offset() {
    let samples = vec![
        FragmentSample::new(Bytes::from_static(b"\0\0\0\x05IDR!!"), 3000, 6000, true).unwrap(),
        FragmentSample::new(Bytes::from_static(b"\0\0\0\x02P1"), 3000, 6000, false).unwrap(),
        FragmentSample::new(Bytes::from_static(b"\0\0\0\x03B23"), 3000, -3000, false).unwrap(),
    ];
    let bytes = fragment(42, 1 << 40, &samples);
    let fragments = parse_fragments(&bytes);
    assert_eq!(fragments.len(), 1);
    let f = &fragments[0];
    assert_eq!(f.sequence, 42);
    assert_eq!(f.tfdt, 1 << 40);
    assert_eq!(f.trun_version, 1);
    assert_eq!(f.durations, vec![3000; 3]);
    assert_eq!(f.sizes, vec![9, 6, 7]);
    assert_eq!(f.cts, vec![6000, 6000, -3000]);
    assert!(f.is_sync(0));
    assert!(!f.is_sync(1) && !f.is_sync(2));
    assert_eq!(f.flags[1] >> 24 & 3, 1, "non-sync samples depend on others");
    for (parsed, given) in f.samples.iter().zip(&samples) {
        assert_eq!(&parsed[..], &given.data()[..]);
    }
}

#[test]
fn empty_fragment_is_well_formed() {
    let bytes = fragment(1, 0, &[]);
    let fragments = parse_fragments(&bytes);
    assert_eq!(fragments[0].durations.len(), 0);
}
