//! Makes the decoder's colorimetry explicit in its caps.
//!
//! Caps without `colorimetry` are read with a size-dependent default (BT.709
//! from 720 lines up, BT.601 below), so a scaler from 720p to 480p would see
//! two different colorimetries and convert between them: a colour shift,
//! and extra work in every scaler. Written out once, the colorimetry is
//! carried unchanged through every scaler down to the encoders (and their
//! VUI).

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

/// `caps` with the colorimetry they imply written out; `None` when they
/// already name one (or are not raw video).
fn explicit(caps: &gst::CapsRef) -> Option<gst::Caps> {
    if caps.structure(0)?.has_field("colorimetry") {
        return None;
    }
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let mut explicit = caps.to_owned();
    explicit
        .make_mut()
        .structure_mut(0)?
        .set("colorimetry", info.colorimetry().to_string());
    Some(explicit)
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
    }
}
