//! The provider's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`,
//! each `v1` an HMAC-SHA256 of `"{t}.{raw body}"` keyed with the endpoint's
//! `whsec_…` secret. Checked on the raw bytes, before anything is parsed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest header we read; real ones are a few hundred bytes.
const HEADER_BYTES_MAX: usize = 4096;
/// Most `v1` values we try (the provider sends one per active secret).
pub const SIGNATURES_MAX: usize = 8;

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature's timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no signature matches any of our secrets")]
    Mismatch,
}

impl SignatureError {
    /// The stable code of the 400 answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed(_) => "malformed_signature",
            Self::OutsideTolerance => "timestamp_out_of_tolerance",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// The parts of a signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub signatures: Vec<[u8; 32]>,
}

/// Parses `t=…,v1=…` (other schemes such as `v0` are ignored).
///
/// # Errors
/// [`SignatureError::Missing`] for an empty header, `Malformed` otherwise.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    if header.len() > HEADER_BYTES_MAX {
        return Err(SignatureError::Malformed("too long"));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an item is not key=value"))?;
        match key {
            "t" => {
                let t = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("t is not a unix timestamp"))?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed("t is given twice"));
                }
            }
            "v1" => {
                let mut bytes = [0u8; 32];
                if hex::decode_to_slice(value, &mut bytes).is_ok()
                    && signatures.len() < SIGNATURES_MAX
                {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no t"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    Ok(SignatureHeader {
        timestamp,
        signatures,
    })
}

/// Verifies `payload` against the header with any of `secrets`, at `now`
/// (unix seconds), allowing `tolerance_s` of clock difference either way.
/// Compares in constant time. Returns the signed timestamp.
///
/// # Errors
/// As [`SignatureError`].
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[String],
    tolerance_s: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let parsed = parse_header(header)?;
    // abs_diff: `t` is the sender's, unverified yet, and any i64; a plain
    // subtraction overflows at the extremes (found by fuzzing).
    let tolerance = u64::try_from(tolerance_s).unwrap_or(0);
    if now.abs_diff(parsed.timestamp) > tolerance {
        return Err(SignatureError::OutsideTolerance);
    }
    let prefix = format!("{}.", parsed.timestamp);
    for secret in secrets {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
        mac.update(prefix.as_bytes());
        mac.update(payload);
        for signature in &parsed.signatures {
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(parsed.timestamp);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs `payload` as the provider does (for `bazaar replay` and tests of our own tools).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_say_why_not() {
        assert_eq!(parse_header("").unwrap_err(), SignatureError::Missing);
        assert_eq!(
            parse_header("t=1").unwrap_err().code(),
            "malformed_signature"
        );
        assert_eq!(
            parse_header("v1=00").unwrap_err().code(),
            "malformed_signature"
        );
        assert_eq!(
            parse_header("t=x,v1=00").unwrap_err().code(),
            "malformed_signature"
        );
        let good = format!("t=5,v0=ab,v1={}", "0".repeat(64));
        assert_eq!(parse_header(&good).unwrap().timestamp, 5);
    }

    #[test]
    fn extreme_timestamps_are_outside_the_tolerance_not_an_overflow() {
        let zeros = "0".repeat(64);
        for (t, now) in [
            (i64::MIN, 1_760_000_000),
            (i64::MAX, -1),
            (i64::MIN, i64::MAX),
        ] {
            let header = format!("t={t},v1={zeros}");
            assert_eq!(
                verify(b"{}", &header, &["whsec_a".to_owned()], 300, now),
                Err(SignatureError::OutsideTolerance)
            );
        }
        let header = sign(b"{}", "whsec_a", i64::MIN);
        assert_eq!(
            verify(b"{}", &header, &["whsec_a".to_owned()], 300, i64::MIN),
            Ok(i64::MIN)
        );
    }

    #[test]
    fn signing_and_verifying_agree() {
        let header = sign(b"{}", "whsec_a", 1000);
        let secrets = vec!["whsec_b".to_owned(), "whsec_a".to_owned()];
        assert_eq!(verify(b"{}", &header, &secrets, 300, 1200), Ok(1000));
        assert_eq!(
            verify(b"{} ", &header, &secrets, 300, 1200),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"{}", &header, &secrets, 300, 1301),
            Err(SignatureError::OutsideTolerance)
        );
    }
}
