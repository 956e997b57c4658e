//! Encoder and scaler settings of a ladder. The benchmark builds its ffmpeg
//! baseline from the same values.

/// How frames are scaled down to a rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleMethod {
    /// 2-tap bilinear at every ratio (swscale's `fast_bilinear`).
    Bilinear,
    /// Bilinear widened to the scale ratio (swscale's `bilinear`).
    AreaBilinear,
}

impl ScaleMethod {
    /// The `videoscale` `method` nick.
    pub fn gst_nick(self) -> &'static str {
        match self {
            Self::Bilinear => "bilinear",
            Self::AreaBilinear => "bilinear2",
        }
    }

    /// The swscale flag of the same algorithm.
    pub fn swscale_flag(self) -> &'static str {
        match self {
            Self::Bilinear => "fast_bilinear",
            Self::AreaBilinear => "bilinear",
        }
    }
}

/// x264 and scaling settings shared by every rung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// x264 preset (`ultrafast` … `placebo`); there are never B-frames.
    pub preset: &'static str,
    /// x264 `tune=zerolatency` (live). Off for VOD: x264's lookahead and
    /// frame threads, still without B-frames.
    pub zerolatency: bool,
    /// VBV buffer in milliseconds of the rung's bitrate (maxrate equals
    /// the bitrate: CBR-ish).
    pub vbv_ms: u32,
    /// Rungs up to this height get one x264 thread: no slices and no
    /// thread handoffs, the least CPU per frame (the rungs already run in
    /// parallel, each in its own thread). Above it x264 slices each frame
    /// over its own threads, so a large frame still encodes within its
    /// frame time.
    pub encoder_single_thread_max_height: u32,
    /// Sources up to this height are decoded by one thread: less CPU than
    /// libav's frame threads, and no frames held back by them. Above it
    /// libav chooses.
    pub decoder_single_thread_max_height: u32,
    pub scale: ScaleMethod,
    /// Scale each rung from the next larger one instead of from the source.
    pub cascade: bool,
    /// Decoded frames queued in front of each encoder and scaler.
    pub queue_frames: u32,
    /// Convert decoded frames to 8-bit 4:2:0 before scaling (10-bit or
    /// 4:2:2 sources then give High profile rungs, not High 10 or 4:2:2).
    pub eight_bit: bool,
    /// x264's `rc-lookahead` in frames, where the preset's is too long;
    /// `None` keeps the preset's (zerolatency has none).
    pub rc_lookahead: Option<u32>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            preset: "veryfast",
            zerolatency: true,
            vbv_ms: 1000,
            encoder_single_thread_max_height: 720,
            decoder_single_thread_max_height: 1080,
            scale: ScaleMethod::Bilinear,
            cascade: true,
            queue_frames: 3,
            eight_bit: false,
            rc_lookahead: None,
        }
    }
}

/// x264's presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

impl Tuning {
    /// VOD encoding: the x264 `preset` (one of [`X264_PRESETS`], else
    /// `None`), no zerolatency tune, a 2 s VBV, 8-bit 4:2:0 output, at most
    /// 20 frames of lookahead, and scaling that averages every source pixel where a step halves the
    /// size or more (a 2-tap filter aliases there; see
    /// [`Tuning::scale_for`]).
    pub fn vod(preset: &str) -> Option<Self> {
        let preset = X264_PRESETS.into_iter().find(|known| *known == preset)?;
        let rc_lookahead =
            (preset_lookahead(preset) > VOD_RC_LOOKAHEAD_MAX).then_some(VOD_RC_LOOKAHEAD_MAX);
        Some(Self {
            preset,
            zerolatency: false,
            vbv_ms: 2000,
            eight_bit: true,
            rc_lookahead,
            scale: ScaleMethod::AreaBilinear,
            encoder_single_thread_max_height: 0,
            ..Self::default()
        })
    }

    /// The scaler of a step from `from` lines (when known) to `to`: 2-tap
    /// bilinear while the step keeps two thirds of the lines or more (every
    /// source line still falls under a tap: 1080p to 720p, 720p to 480p),
    /// else `scale`. The area filter cost a VOD ladder a tenth of its CPU
    /// time at steps where it changes nothing that SSIM sees.
    pub fn scale_for(&self, from: Option<u32>, to: u32) -> ScaleMethod {
        match from {
            Some(from) if u64::from(to) * 3 >= u64::from(from) * 2 => ScaleMethod::Bilinear,
            _ => self.scale,
        }
    }

    /// x264 `threads` for a rung of this height (0: x264 chooses).
    pub fn encoder_threads(&self, height: u32) -> u32 {
        u32::from(height <= self.encoder_single_thread_max_height)
    }

    /// avdec_h264 `max-threads` for a source of this height (0: libav chooses).
    pub fn decoder_threads(&self, height: u32) -> i32 {
        i32::from(height <= self.decoder_single_thread_max_height)
    }
}

/// An `x264enc` with these settings: bitrate (= VBV maximum) in kbit/s, no
/// B-frames, no keyframes of its own (they are forced) and no scene cuts.
pub fn x264_encoder(
    tuning: &Tuning,
    name: &str,
    bitrate_kbps: u32,
    height: u32,
) -> Result<gstreamer::Element, gstreamer::glib::BoolError> {
    let mut builder = gstreamer::ElementFactory::make("x264enc")
        .name(name)
        .property_from_str("speed-preset", tuning.preset);
    if tuning.zerolatency {
        builder = builder.property_from_str("tune", "zerolatency");
    }
    let options = match tuning.rc_lookahead {
        Some(frames) => format!("scenecut=0:rc-lookahead={frames}"),
        None => "scenecut=0".to_owned(),
    };
    builder
        .property("bframes", 0u32)
        .property("key-int-max", KEY_INT_MAX)
        .property("bitrate", bitrate_kbps)
        .property("vbv-buf-capacity", tuning.vbv_ms)
        .property("threads", tuning.encoder_threads(height))
        .property("option-string", options)
        // Access unit delimiters are noise in AVCC.
        .property("aud", false)
        .build()
}

/// The longest lookahead of VOD encodes (`medium` has 40). A keyframe is
/// forced by an event the encoder ignores while the frame an earlier one
/// forced has not come out yet; with 40 frames of lookahead (and its frame
/// threads) that was longer than a 1 s GOP at 25 or 30 fps, and every other
/// source keyframe was lost from the rungs. Source keyframes closer than
/// the lookahead still lose the later one.
const VOD_RC_LOOKAHEAD_MAX: u32 = 20;

/// x264's own `rc-lookahead` of one of [`X264_PRESETS`].
fn preset_lookahead(preset: &str) -> u32 {
    match preset {
        "ultrafast" | "superfast" => 0,
        "veryfast" => 10,
        "faster" => 20,
        "fast" => 30,
        "medium" => 40,
        "slow" => 50,
        _ => 60,
    }
}

/// x264 never starts a GOP on its own (keyframes are forced where the
/// source has them): its "infinite" keyint.
const KEY_INT_MAX: u32 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vod_lookahead_is_capped_not_raised() {
        let lookahead = |preset| Tuning::vod(preset).map(|t| t.rc_lookahead);
        assert_eq!(lookahead("medium"), Some(Some(20)));
        assert_eq!(lookahead("veryslow"), Some(Some(20)));
        assert_eq!(lookahead("faster"), Some(None));
        assert_eq!(lookahead("ultrafast"), Some(None));
        assert_eq!(lookahead("warp"), None);
        assert_eq!(Tuning::default().rc_lookahead, None);
    }

    #[test]
    fn the_area_filter_only_where_a_step_drops_more_than_a_third_of_the_lines() {
        let vod = Tuning::vod("medium").unwrap();
        assert_eq!(vod.scale_for(Some(1080), 720), ScaleMethod::Bilinear);
        assert_eq!(vod.scale_for(Some(720), 480), ScaleMethod::Bilinear);
        assert_eq!(vod.scale_for(Some(480), 360), ScaleMethod::Bilinear);
        assert_eq!(vod.scale_for(Some(1080), 1080), ScaleMethod::Bilinear);
        assert_eq!(vod.scale_for(Some(2160), 1080), ScaleMethod::AreaBilinear);
        assert_eq!(vod.scale_for(Some(1080), 480), ScaleMethod::AreaBilinear);
        assert_eq!(vod.scale_for(None, 720), ScaleMethod::AreaBilinear);
        // The live ladder scales with 2 taps everywhere.
        let live = Tuning::default();
        assert_eq!(live.scale_for(Some(2160), 360), ScaleMethod::Bilinear);
    }
}
