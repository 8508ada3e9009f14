//! `Email`: an address that has been normalised and checked, or nothing.

use std::fmt;

use serde::Serialize;

use crate::error::AppError;

/// The longest address accepted (RFC 5321's path limit less the angle brackets).
pub const EMAIL_CHARS_MAX: usize = 254;
/// The longest local part (before the `@`), per RFC 5321.
const LOCAL_PART_CHARS_MAX: usize = 64;
/// The longest DNS label.
const DOMAIN_LABEL_CHARS_MAX: usize = 63;

/// A normalised email address: trimmed, lowercased, of a plain `local@domain.tld`
/// shape. Internationalised addresses (non-ASCII) are refused for now.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks `raw`.
    ///
    /// # Errors
    /// 422 `invalid_email` (param `email`) when it is not an address we accept.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_ascii_lowercase();
        let refuse = |why: &str| {
            Err(AppError::unprocessable(
                "invalid_email",
                format!("the email address is not valid: {why}"),
                Some("email".into()),
            ))
        };
        if email.is_empty() {
            return refuse("it is empty");
        }
        if email.len() > EMAIL_CHARS_MAX {
            return refuse("it is longer than 254 characters");
        }
        if !email.is_ascii() {
            return refuse("only ASCII addresses are accepted");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return refuse("it has no @");
        };
        if domain.contains('@') {
            return refuse("it has more than one @");
        }
        let local_ok = !local.is_empty()
            && local.len() <= LOCAL_PART_CHARS_MAX
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-!#$&'*/=?^`{|}~".contains(&b));
        if !local_ok {
            return refuse("the part before @ has characters we do not accept");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= DOMAIN_LABEL_CHARS_MAX
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
        if !labels_ok {
            return refuse("the domain is not a valid host name");
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        let email = Email::parse("  Ann.Lee+shop@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.lee+shop@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        for raw in [
            "",
            "   ",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a@b@example.com",
            "ann lee@example.com",
            ".ann@example.com",
            "ann..lee@example.com",
            "ann@-example.com",
            "ann@example..com",
            "ann@1.2.3.4",
            "anné@example.com",
            "ann@exa_mple.com",
            long.as_str(),
        ] {
            let error = Email::parse(raw).expect_err(raw);
            assert_eq!(error.code(), "invalid_email", "{raw}");
        }
    }
}
