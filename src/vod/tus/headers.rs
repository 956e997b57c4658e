//! tus 1.0.0 headers: what a client may send, parsed and checked as plain
//! strings, and the values the server advertises.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

pub const TUS_VERSION: &str = "1.0.0";
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum";
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The only body type of PATCH (and of POST with creation-with-upload).
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Upload-Metadata past this many bytes is refused: it is stored per upload.
const MAX_METADATA: usize = 4096;
const MAX_METADATA_PAIRS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{0} must be a non-negative integer")]
    NotANumber(&'static str),
    #[error("Upload-Metadata: {0}")]
    Metadata(String),
    #[error("Upload-Checksum: unsupported algorithm {0:?} (supported: sha1, sha256)")]
    UnsupportedChecksum(String),
    #[error("Upload-Checksum must be `ALGORITHM BASE64-DIGEST`")]
    MalformedChecksum,
}

/// A non-negative integer header (Upload-Offset, Upload-Length): ASCII digits only.
pub fn parse_count(name: &'static str, value: &str) -> Result<u64, HeaderError> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::NotANumber(name));
    }
    value.parse().map_err(|_| HeaderError::NotANumber(name))
}

/// One Upload-Metadata pair: a key and its decoded value, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPair {
    pub key: String,
    pub value: Option<String>,
}

/// Parses `key base64,key2 base64,key3`: keys are printable ASCII without
/// spaces or commas and unique; values are base64 of UTF-8 text.
pub fn parse_metadata(header: &str) -> Result<Vec<MetadataPair>, HeaderError> {
    let bad = |why: &str| HeaderError::Metadata(why.to_owned());
    if header.len() > MAX_METADATA {
        return Err(bad("longer than 4096 bytes"));
    }
    let mut pairs: Vec<MetadataPair> = Vec::new();
    for item in header.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let mut parts = item.split(' ');
        let key = parts.next().unwrap_or_default();
        let encoded = parts.next();
        if parts.next().is_some() {
            return Err(bad("a pair is `key base64-value`"));
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(bad("keys are printable ASCII without spaces or commas"));
        }
        if pairs.iter().any(|p| p.key == key) {
            return Err(bad("a key appears twice"));
        }
        let value = encoded
            .map(|encoded| {
                let bytes = STANDARD
                    .decode(encoded)
                    .map_err(|_| bad("a value is not base64"))?;
                String::from_utf8(bytes).map_err(|_| bad("a value is not UTF-8 text"))
            })
            .transpose()?;
        pairs.push(MetadataPair {
            key: key.to_owned(),
            value,
        });
        if pairs.len() > MAX_METADATA_PAIRS {
            return Err(bad("more than 32 pairs"));
        }
    }
    Ok(pairs)
}

/// The value of `key` in parsed metadata.
pub fn metadata_value<'a>(pairs: &'a [MetadataPair], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|p| p.key == key)
        .and_then(|p| p.value.as_deref())
}

/// Writes metadata back as a header (for HEAD).
pub fn format_metadata(pairs: &[MetadataPair]) -> String {
    pairs
        .iter()
        .map(|p| match &p.value {
            Some(value) => format!("{} {}", p.key, STANDARD.encode(value)),
            None => p.key.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }
}

/// Upload-Checksum: the algorithm and the digest the chunk must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
}

pub fn parse_checksum(header: &str) -> Result<Checksum, HeaderError> {
    let (name, encoded) = header
        .trim()
        .split_once(' ')
        .ok_or(HeaderError::MalformedChecksum)?;
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sha1" => ChecksumAlgorithm::Sha1,
        "sha256" => ChecksumAlgorithm::Sha256,
        _ => {
            return Err(HeaderError::UnsupportedChecksum(
                name.chars().take(32).collect(),
            ));
        }
    };
    let digest = STANDARD
        .decode(encoded.trim())
        .map_err(|_| HeaderError::MalformedChecksum)?;
    if digest.len() != algorithm.digest_len() {
        return Err(HeaderError::MalformedChecksum);
    }
    Ok(Checksum { algorithm, digest })
}

/// An instant as HTTP writes it (Upload-Expires): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_plain_digits() {
        assert_eq!(parse_count("Upload-Offset", "0"), Ok(0));
        assert_eq!(
            parse_count("Upload-Offset", "18446744073709551615"),
            Ok(u64::MAX)
        );
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.0",
            "0x10",
            "18446744073709551616",
            "1e3",
        ] {
            assert!(parse_count("Upload-Offset", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_parses_as_the_spec_writes_it() {
        let pairs = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(
            metadata_value(&pairs, "filename"),
            Some("world_domination_plan.pdf")
        );
        assert_eq!(
            pairs[1],
            MetadataPair {
                key: "is_confidential".into(),
                value: None
            }
        );
        assert_eq!(parse_metadata("").unwrap(), vec![]);
        let round = format_metadata(&pairs);
        assert_eq!(parse_metadata(&round).unwrap(), pairs);
    }

    #[test]
    fn hostile_metadata_is_refused() {
        let long = format!("k {}", "A".repeat(5000));
        let many: Vec<String> = (0..40).map(|i| format!("k{i} YQ==")).collect();
        for bad in [
            "key not*base64",
            "a YQ==,a YQ==",
            "key YQ== extra",
            "k\u{7f} YQ==",
            "name //79",
            long.as_str(),
            many.join(",").as_str(),
        ] {
            assert!(parse_metadata(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums_name_a_supported_algorithm_and_a_digest_of_its_size() {
        let sha1 = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
        assert_eq!(sha1.algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(sha1.digest.len(), 20);
        assert!(matches!(
            parse_checksum("md5 1B2M2Y8AsgTpgAmY7PhCfg=="),
            Err(HeaderError::UnsupportedChecksum(_))
        ));
        assert_eq!(
            parse_checksum("sha256 Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
            Err(HeaderError::MalformedChecksum)
        );
        assert_eq!(parse_checksum("sha1"), Err(HeaderError::MalformedChecksum));
        assert_eq!(
            parse_checksum("sha1 !!!"),
            Err(HeaderError::MalformedChecksum)
        );
    }

    #[test]
    fn dates_are_http_dates() {
        let at = DateTime::from_timestamp(784_111_777, 0).unwrap();
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
