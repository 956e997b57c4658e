//! Signed, expiring upload URLs: a URL alone lets a browser or tus client
//! upload, without the admin token. The key derives from the admin token, so
//! every node that shares the token accepts the others' URLs.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub struct Signer {
    key: [u8; 32],
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Bad,
    Expired,
}

impl Signer {
    pub fn new(secret: &str) -> Signer {
        let mut hasher = Sha256::new();
        hasher.update(b"tributary upload urls\0");
        hasher.update(secret.as_bytes());
        Signer {
            key: hasher.finalize().into(),
        }
    }

    fn mac(&self, path: &str, expires: i64) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The `expires=…&sig=…` query that signs `path` until `expires` (Unix seconds).
    pub fn query(&self, path: &str, expires: i64) -> String {
        let sig = crate::ids::hex(&self.mac(path, expires).finalize().into_bytes());
        format!("expires={expires}&sig={sig}")
    }

    /// Checks a signature of `path` (constant time) and its expiry.
    pub fn verify(
        &self,
        path: &str,
        expires: Option<i64>,
        sig: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(SignatureError::Missing);
        };
        let bytes = decode_hex(sig).ok_or(SignatureError::Bad)?;
        self.mac(path, expires)
            .verify_slice(&bytes)
            .map_err(|_| SignatureError::Bad)?;
        if expires < now {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (i64, String) {
        let (expires, sig) = query.split_once('&').unwrap();
        (
            expires.trim_start_matches("expires=").parse().unwrap(),
            sig.trim_start_matches("sig=").to_owned(),
        )
    }

    #[test]
    fn a_signature_holds_for_its_path_until_it_expires() {
        let signer = Signer::new("token");
        let (expires, sig) = parts(&signer.query("/api/v1/uploads/abc", 1000));
        assert_eq!(
            signer.verify("/api/v1/uploads/abc", Some(expires), Some(&sig), 999),
            Ok(())
        );
        assert_eq!(
            signer.verify("/api/v1/uploads/abd", Some(expires), Some(&sig), 999),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            signer.verify("/api/v1/uploads/abc", Some(expires + 1), Some(&sig), 999),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            signer.verify("/api/v1/uploads/abc", Some(expires), Some(&sig), 1001),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            signer.verify("/api/v1/uploads/abc", None, Some(&sig), 0),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            signer.verify("/api/v1/uploads/abc", Some(expires), Some("zz"), 0),
            Err(SignatureError::Bad)
        );
        let other = Signer::new("another token");
        assert_eq!(
            other.verify("/api/v1/uploads/abc", Some(expires), Some(&sig), 999),
            Err(SignatureError::Bad)
        );
    }
}
