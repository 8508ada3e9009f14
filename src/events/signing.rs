//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the
//! secret format and the `v1` (HMAC-SHA256) scheme, so any of the spec's
//! verification libraries checks what we send.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;

/// What every secret starts with (the spec's convention).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// A fresh secret: `whsec_` and the base64 of 24 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key a secret stands for: the base64 after the prefix, decoded.
///
/// # Errors
/// 500: a stored secret that is not in the format (a bug or tampering).
fn key_of(secret: &str) -> Result<Vec<u8>, AppError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("a webhook secret lacks its whsec_ prefix"))
    })?;
    STANDARD
        .decode(encoded)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("a webhook secret is not base64")))
}

/// One `v1,<base64 HMAC-SHA256>` signature over `{id}.{timestamp}.{body}`.
///
/// # Errors
/// As [`key_of`].
pub fn sign(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, AppError> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("HMAC refused a key")))?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, separated by
/// spaces (while a rotated secret's grace lasts, both sign).
///
/// # Errors
/// As [`key_of`].
pub fn signature_header<S: AsRef<str>>(
    secrets: &[S],
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, AppError> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret.as_ref(), message_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_example() {
        // The example of the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn fresh_secrets_differ_and_carry_24_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(key_of(&a).unwrap().len(), SECRET_BYTES);
        let header = signature_header(&[&a, &b], "ev_1", 1, "{}").unwrap();
        assert_eq!(header.split(' ').count(), 2);
        assert!(key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    }
}
