//! Opaque bearer secrets: session tokens and API keys, their formats and digests.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Session tokens start with this, so a leaked one is recognisable in logs and scanners.
pub(crate) const SESSION_TOKEN_PREFIX: &str = "bzs_";
/// API keys start with this.
pub(crate) const API_KEY_PREFIX: &str = "bzk_";
/// Random bytes in a session token or an API key's secret part (256 bits).
const SECRET_BYTES: usize = 32;
/// Random bytes in an API key's public prefix (8 hex characters).
const KEY_PREFIX_BYTES: usize = 4;
/// Characters of an API key's public prefix.
pub(crate) const KEY_PREFIX_CHARS: usize = KEY_PREFIX_BYTES * 2;
/// The longest bearer value we look at; anything longer is refused unread.
pub(crate) const BEARER_CHARS_MAX: usize = 128;

/// `bytes` random bytes from the OS-seeded CSPRNG, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// The stored form of a bearer secret.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new session token, `bzs_` + 64 hex characters.
pub(crate) fn new_session_token() -> String {
    format!("{SESSION_TOKEN_PREFIX}{}", random_hex(SECRET_BYTES))
}

/// A new API key and its public prefix: `bzk_<prefix>_<64 hex>`.
pub(crate) fn new_api_key() -> (String, String) {
    let prefix = random_hex(KEY_PREFIX_BYTES);
    let key = format!("{API_KEY_PREFIX}{prefix}_{}", random_hex(SECRET_BYTES));
    (key, prefix)
}

/// What a bearer value claims to be, judged by its shape alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bearer<'a> {
    Session,
    ApiKey { prefix: &'a str },
}

/// Classifies a bearer value; `None` when it has neither shape.
pub(crate) fn classify(token: &str) -> Option<Bearer<'_>> {
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(secret) = token.strip_prefix(SESSION_TOKEN_PREFIX) {
        return is_hex(secret, SECRET_BYTES * 2).then_some(Bearer::Session);
    }
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    (is_hex(prefix, KEY_PREFIX_CHARS) && is_hex(secret, SECRET_BYTES * 2))
        .then_some(Bearer::ApiKey { prefix })
}

/// Compares two digests without an early exit, so timing says nothing of where they differ.
pub(crate) fn digests_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_documented_shapes() {
        let token = new_session_token();
        assert_eq!(token.len(), 4 + 64);
        assert_eq!(classify(&token), Some(Bearer::Session));
        let (key, prefix) = new_api_key();
        assert_eq!(prefix.len(), KEY_PREFIX_CHARS);
        assert_eq!(classify(&key), Some(Bearer::ApiKey { prefix: &prefix }));
        assert!(key.starts_with(&format!("bzk_{prefix}_")));
    }

    #[test]
    fn other_shapes_are_refused() {
        for token in [
            "",
            "bzs_",
            "bzs_xyz",
            "bzk_1234_abcd",
            "Bearer",
            "bzs_ABCDEF",
        ] {
            assert_eq!(classify(token), None, "{token}");
        }
    }

    #[test]
    fn digests_compare_by_value() {
        assert!(digests_equal(&digest("a"), &digest("a")));
        assert!(!digests_equal(&digest("a"), &digest("b")));
    }
}
