//! Passwords: the rules a new one must meet, argon2id hashing and verification.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

use crate::error::AppError;

/// Shorter passwords are refused (NIST SP 800-63B suggests length over composition).
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longer ones are refused too: hashing cost should not be the caller's to choose.
pub const PASSWORD_CHARS_MAX: usize = 256;
/// Salt bytes per hash (argon2's recommended 16).
const SALT_BYTES: usize = 16;

/// Widely used passwords, one a line, compared case-insensitively.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// A password that meets the rules for a new one. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks a new password against the rules.
    ///
    /// # Errors
    /// 422 with param `password`: `password_too_short` (under 12 characters),
    /// `password_too_long` (over 256), `password_too_common` (in the list of
    /// common passwords, in any letter case).
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        let param = Some("password".to_owned());
        if chars < PASSWORD_CHARS_MIN {
            return Err(AppError::unprocessable(
                "password_too_short",
                format!("the password must have at least {PASSWORD_CHARS_MIN} characters"),
                param,
            ));
        }
        if chars > PASSWORD_CHARS_MAX {
            return Err(AppError::unprocessable(
                "password_too_long",
                format!("the password must have at most {PASSWORD_CHARS_MAX} characters"),
                param,
            ));
        }
        if common_passwords().contains(&raw.to_lowercase()) {
            return Err(AppError::unprocessable(
                "password_too_common",
                "this password is one of the most common ones; choose another",
                param,
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), salted
    /// with 16 fresh random bytes.
    ///
    /// # Errors
    /// Hashing failed (a bug: the parameters are fixed).
    pub(crate) fn hash(&self) -> Result<String, AppError> {
        hash_raw(&self.0)
    }
}

fn hash_raw(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("argon2 hash: {e}")))
}

/// Whether `candidate` matches the stored PHC string. A stored string that does
/// not parse never matches.
pub(crate) fn verify(candidate: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "a stored password hash does not parse");
            false
        }
    }
}

/// Spends the same time as [`verify`] on a real account, for logins with an
/// unknown email, so response times do not tell which emails have accounts.
pub(crate) fn verify_dummy(candidate: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| {
        hash_raw("not a real password; only here to spend time")
            .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$invalid"))
    });
    let _ = verify(candidate, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_for_new_passwords() {
        assert_eq!(
            Password::parse("short").unwrap_err().code(),
            "password_too_short"
        );
        // Eleven characters, but more than eleven bytes: the rule counts characters.
        assert_eq!(
            Password::parse("ééééééééééé").unwrap_err().code(),
            "password_too_short"
        );
        assert_eq!(
            Password::parse(&"x".repeat(257)).unwrap_err().code(),
            "password_too_long"
        );
        assert_eq!(
            Password::parse("Password1234").unwrap_err().code(),
            "password_too_common"
        );
        assert!(Password::parse("plum orbit sailing forty").is_ok());
    }

    #[test]
    fn the_common_list_is_substantial() {
        assert!(
            common_passwords().len() >= 200,
            "{}",
            common_passwords().len()
        );
    }

    #[test]
    fn hashes_verify_and_are_salted() {
        let password = Password::parse("plum orbit sailing forty").unwrap();
        let first = password.hash().unwrap();
        let second = password.hash().unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second);
        assert!(verify("plum orbit sailing forty", &first));
        assert!(!verify("plum orbit sailing fortyone", &first));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn debug_redacts() {
        let password = Password::parse("plum orbit sailing forty").unwrap();
        assert!(!format!("{password:?}").contains("orbit"));
    }
}
