//! Who is calling: users, passwords, sessions, API keys, roles, the staff's
//! second factor (TOTP), login throttling and the audit log.
//!
//! Other modules use [`Caller`] (an extractor: the authenticated user, or 401),
//! [`MaybeCaller`] (for endpoints open to anonymous buyers), [`Caller::require`]
//! for role checks, and [`record_audit`] to append to the audit log.
//!
//! Decisions:
//! - Bearer tokens only. A session token is `bzs_` + 64 hex characters (256
//!   random bits); an API key is `bzk_<8-char prefix>_<64 hex>`. Only their
//!   SHA-256 digests are stored; an unsalted digest is enough for 256-bit secrets.
//! - Staff (operator, finance, support) must enrol TOTP before doing anything but
//!   enrolling (and logging out); the [`Caller`] extractor enforces it, so no
//!   handler can forget. API keys skip TOTP: they are server-to-server
//!   credentials, created by an already-enrolled session.
//! - Login throttling counts failures in the database (per normalised email and
//!   per client address), so several server processes agree. Unknown emails are
//!   throttled by email too, so a lockout does not reveal that an account exists.

mod account;
mod account_http;
mod api_keys;
mod audit;
mod directory;
mod disable;
mod email;
mod extract;
mod handlers;
mod password;
pub mod policy;
pub mod schema;
mod sessions;
mod throttle;
mod tokens;
mod totp;
mod totp_keys;
mod users;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub use account::{
    change_password, check_deletion, create_verified_user, erase_account, local_path,
    mint_account_token, request_password_reset, resend_verification, reset_password, signup,
    verify_email, EmailVerified, ErasedAccount, PasswordUpdated, SignupAccepted, TokenPurpose,
};
pub use account_http::sign_up;
pub use api_keys::{
    create_api_key, issue_api_key, list_api_keys, revoke_api_key, ApiKeyCreated, ApiKeyView,
    NewApiKey, API_KEY_DAYS_MAX, API_KEY_NAME_CHARS_MAX,
};
pub use audit::{
    accounts_by_email, actor_emails, list_audit_log, list_audit_log_where, record_audit,
    AuditEntry, AuditFilter, AuditRecord, AUDIT_PAGE_MAX,
};
pub use directory::{
    parse_role, search_users, user_details, SessionSummary, UserApiKey, UserDetails, UserPage,
    UserSearch, UserSummary, DETAILS_ROWS_MAX, USERS_PAGE_DEFAULT, USERS_PAGE_MAX,
};
pub use disable::{disable_user, enable_user, DISABLE_REASON_CHARS_MAX};
pub use email::Email;
pub use extract::{
    browser_session, BrowserSession, MaybeCaller, RequestContext, API_KEY_LAST_USED_RESOLUTION_S,
};
pub use handlers::routes;
pub use password::Password;
pub use sessions::{login, logout, session_ttl, LoginAttempt, SessionCreated};
pub use throttle::LoginThrottle;
pub(crate) use tokens::API_KEY_PREFIX;
pub use totp::{
    confirm_totp, disable_totp, start_totp_enrolment, TotpEnrolment, TOTP_CODE_DIGITS, TOTP_STEP_S,
};
pub use totp_keys::reencrypt_totp_secrets;
pub(crate) use totp_keys::SealingKeys;
pub use users::{change_role, create_operator, find_user_by_email, get_me, get_user, Me, UserView};

/// What a user may do. Stored lowercase in `users.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Browses, buys, may be refunded.
    Buyer,
    /// Runs shops and their products.
    Seller,
    /// Everything, including fee rules, freezes and role changes.
    Operator,
    /// Read-only on money: ledger, payouts, reconciliation.
    Finance,
    /// Orders and refunds; no fee rules.
    Support,
}

impl Role {
    /// Every role, for tables and tests.
    pub const ALL: [Role; 5] = [
        Role::Buyer,
        Role::Seller,
        Role::Operator,
        Role::Finance,
        Role::Support,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Operator => "operator",
            Role::Finance => "finance",
            Role::Support => "support",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Staff roles must enrol TOTP and log in with a code.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Operator | Role::Finance | Role::Support)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's id: `usr_` + a UUID in simple form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self(format!("usr_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The authenticated caller; an actix `FromRequest` extractor.
///
/// Reads `Authorization: Bearer <token>` (a session token or an API key).
/// Missing, malformed, unknown, expired or revoked → 401 `unauthenticated`.
/// A staff session whose TOTP is not enrolled yet → 403 `totp_enrollment_required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
}

impl Caller {
    /// Ok if the caller's role is one of `allowed`; `Operator` is allowed everywhere.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] (403) otherwise.
    pub fn require(&self, allowed: &[Role]) -> Result<(), AppError> {
        if self.role == Role::Operator || allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether [`Caller::require`] would let the caller through `allowed`:
    /// for showing only what the caller may do.
    pub fn may(&self, allowed: &[Role]) -> bool {
        self.require(allowed).is_ok()
    }

    /// Whether the caller has exactly this role.
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}

/// 403 `totp_enrollment_required`: a staff caller without a second factor.
pub(crate) fn totp_enrollment_required() -> AppError {
    AppError::ForbiddenWith {
        code: "totp_enrollment_required",
        message: "staff accounts must enrol a second factor first: POST /v1/me/totp, then POST /v1/me/totp/confirm".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            user_id: UserId("usr_x".into()),
            email: "x@example.com".into(),
            role,
        }
    }

    #[test]
    fn operators_pass_every_check_others_only_their_own() {
        assert!(caller(Role::Operator).require(&[]).is_ok());
        assert!(caller(Role::Operator).require(&[Role::Seller]).is_ok());
        assert!(caller(Role::Seller).require(&[Role::Seller]).is_ok());
        assert!(caller(Role::Finance)
            .require(&[Role::Seller, Role::Finance])
            .is_ok());
        let refused = caller(Role::Buyer).require(&[Role::Seller]).unwrap_err();
        assert_eq!(refused.code(), "forbidden");
        assert!(caller(Role::Support).require(&[]).is_err());
    }

    #[test]
    fn roles_round_trip_lowercase() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(serde_json::from_str::<Role>("\"Operator\"").is_err());
    }
}
