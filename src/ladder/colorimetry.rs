//! Makes the decoder's colorimetry explicit in its caps.
//!
//! Caps without `colorimetry`, or with parts of it unknown (HEVC decoders
//! say `2:0:0:0` for a stream that does not tell), are read with a
//! size-dependent default (BT.709 from 720 lines up, BT.601 below), so a
//! scaler from 1080p or 720p to 480p would see two different colorimetries
//! and convert between them: a colour and luma shift, and extra work in
//! every scaler. Written out once, the colorimetry is carried unchanged
//! through every scaler down to the encoders (and their VUI).

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_video as gst_video;

/// Rewrites caps events on `pad` (the decoder's source pad) to name the
/// colorimetry they imply.
pub(crate) fn make_explicit(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
        let Some(event) = info.event_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps_event) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(caps) = explicit(caps_event.caps()) {
            *event = gst::event::Caps::new(&caps);
        }
        gst::PadProbeReturn::Ok
    });
}

/// `caps` with the colorimetry they imply written out, unknown parts filled
/// with the default for their size; `None` when they already name all of
/// it (or are not raw video).
fn explicit(caps: &gst::CapsRef) -> Option<gst::Caps> {
    // As written: reading caps fills unknown parts with the defaults.
    let given = caps
        .structure(0)?
        .get::<String>("colorimetry")
        .ok()
        .and_then(|text| text.parse::<gst_video::VideoColorimetry>().ok());
    if given.as_ref().is_some_and(|given| !has_unknown(given)) {
        return None;
    }
    let mut explicit = caps.to_owned();
    explicit
        .make_mut()
        .structure_mut(0)?
        .remove_field("colorimetry");
    let default = gst_video::VideoInfo::from_caps(&explicit)
        .ok()?
        .colorimetry();
    let given = given.unwrap_or(default);
    let filled = gst_video::VideoColorimetry::new(
        known_or(
            given.range(),
            default.range(),
            gst_video::VideoColorRange::Unknown,
        ),
        known_or(
            given.matrix(),
            default.matrix(),
            gst_video::VideoColorMatrix::Unknown,
        ),
        known_or(
            given.transfer(),
            default.transfer(),
            gst_video::VideoTransferFunction::Unknown,
        ),
        known_or(
            given.primaries(),
            default.primaries(),
            gst_video::VideoColorPrimaries::Unknown,
        ),
    );
    explicit
        .make_mut()
        .structure_mut(0)?
        .set("colorimetry", filled.to_string());
    Some(explicit)
}

fn has_unknown(colorimetry: &gst_video::VideoColorimetry) -> bool {
    colorimetry.range() == gst_video::VideoColorRange::Unknown
        || colorimetry.matrix() == gst_video::VideoColorMatrix::Unknown
        || colorimetry.transfer() == gst_video::VideoTransferFunction::Unknown
        || colorimetry.primaries() == gst_video::VideoColorPrimaries::Unknown
}

fn known_or<T: PartialEq>(given: T, default: T, unknown: T) -> T {
    if given == unknown { default } else { given }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(height: i32) -> gst::Caps {
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", height * 16 / 9)
            .field("height", height)
            .field("framerate", gst::Fraction::new(30, 1))
            .build()
    }

    fn colorimetry(caps: &gst::Caps) -> Option<String> {
        caps.structure(0)?.get::<String>("colorimetry").ok()
    }

    #[test]
    fn names_the_size_dependent_default() {
        crate::gst_init::init().expect("GStreamer");
        let hd = explicit(&caps(720)).expect("rewritten");
        assert_eq!(colorimetry(&hd).as_deref(), Some("bt709"));
        let sd = explicit(&caps(480)).expect("rewritten");
        assert_eq!(colorimetry(&sd).as_deref(), Some("bt601"));
        assert!(explicit(&sd).is_none(), "already explicit");
        // An HEVC decoder's "limited range, nothing else known".
        let mut unknown = caps(1080);
        unknown
            .make_mut()
            .structure_mut(0)
            .unwrap()
            .set("colorimetry", "2:0:0:0");
        let filled = explicit(&unknown).expect("rewritten");
        assert_eq!(colorimetry(&filled).as_deref(), Some("bt709"));
    }
}
