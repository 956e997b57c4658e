//! H.264 helpers: SPS parsing (for dimensions and the codec string), the
//! AVCDecoderConfigurationRecord, and Annex B to length-prefixed conversion.

mod annexb;
mod avcc;
mod sps;

pub use annexb::{AnnexBNalUnits, nal_units, to_length_prefixed};
pub use avcc::{AvcConfig, build_avcc, parse_avcc};
pub use sps::{Sps, parse_sps};

use crate::bits::BitError;

/// NAL unit types used by ingest.
pub mod nal_type {
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// The NAL unit type of a NAL unit (its first byte), if it has one.
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|header| header & 0x1f)
}

/// Why H.264 data could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264Error {
    #[error("not an SPS NAL unit")]
    NotSps,
    #[error("SPS: {0}")]
    SpsBits(#[from] BitError),
    #[error("SPS value out of range: {0}")]
    SpsRange(&'static str),
    #[error("AVCDecoderConfigurationRecord truncated")]
    AvccTruncated,
    #[error("AVCDecoderConfigurationRecord version {0} (expected 1)")]
    AvccVersion(u8),
    #[error("AVCDecoderConfigurationRecord has no SPS")]
    AvccNoSps,
    #[error("parameter set longer than 65535 bytes")]
    ParameterSetTooLong,
}

/// RFC 6381 codec string (`avc1.PPCCLL`) from an SPS's first three bytes.
pub fn codec_string(sps: &Sps) -> String {
    format!(
        "avc1.{:02x}{:02x}{:02x}",
        sps.profile_idc, sps.constraint_flags, sps.level_idc
    )
}
