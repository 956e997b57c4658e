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
    /// x264 preset (`ultrafast` … `placebo`); the tune is always
    /// `zerolatency` and there are never B-frames.
    pub preset: &'static str,
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
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            preset: "veryfast",
            vbv_ms: 1000,
            encoder_single_thread_max_height: 720,
            decoder_single_thread_max_height: 1080,
            scale: ScaleMethod::Bilinear,
            cascade: true,
            queue_frames: 3,
        }
    }
}

impl Tuning {
    /// x264 `threads` for a rung of this height (0: x264 chooses).
    pub fn encoder_threads(&self, height: u32) -> u32 {
        u32::from(height <= self.encoder_single_thread_max_height)
    }

    /// avdec_h264 `max-threads` for a source of this height (0: libav chooses).
    pub fn decoder_threads(&self, height: u32) -> i32 {
        i32::from(height <= self.decoder_single_thread_max_height)
    }
}
