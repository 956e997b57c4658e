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
    /// x264 threads per rung; 0 lets x264 choose (1.5 x cores, sliced).
    pub encoder_threads: u32,
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
            encoder_threads: 0,
            scale: ScaleMethod::Bilinear,
            cascade: true,
            queue_frames: 3,
        }
    }
}
