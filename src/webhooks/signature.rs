//! The `Tributary-Signature` header: `t=UNIX,v1=HEX`, where HEX is the
//! HMAC-SHA256 of `t + "." + body` keyed with the endpoint's secret (the
//! scheme of Mux and Cloudflare Stream). The timestamp inside the signed text
//! lets a receiver refuse replays of old requests.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header value signing `body` at `unix_seconds` with `secret`.
pub fn header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        crate::ids::hex(&mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // python3: hmac.new(b'whsec_test', b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
        assert_eq!(
            header("whsec_test", 1_700_000_000, br#"{"id":"evt_1"}"#),
            "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
    }

    #[test]
    fn the_timestamp_body_and_secret_are_all_signed() {
        let signed = header("s", 1, b"{}");
        assert_ne!(signed[4..], header("s", 2, b"{}")[4..]);
        assert_ne!(signed, header("s", 1, b"{ }"));
        assert_ne!(signed, header("t", 1, b"{}"));
    }
}
