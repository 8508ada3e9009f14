//! The second factor: RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps, one
//! step of clock skew either way), enrolment and replay protection.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::audit::{record_audit_at, AuditEntry};
use super::schema::users;
use super::totp_keys::TotpKeys;
use super::users::load_by_id;
use super::{Caller, RequestContext};
use crate::config::AuthSettings;
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;

/// Digits in a code.
pub const TOTP_CODE_DIGITS: usize = 6;
/// Seconds per time step.
pub const TOTP_STEP_S: u64 = 30;
/// Steps accepted either side of the current one, for clock drift.
const TOTP_SKEW_STEPS: u16 = 1;

/// What an authenticator app needs: the secret and the `otpauth://` URL (for a QR code).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Base32, RFC 4648, no padding.
    pub secret: String,
    pub otpauth_url: String,
}

fn build(secret: Secret, account: &str, issuer: Option<&str>) -> Result<Totp, AppError> {
    let mut builder = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(TOTP_CODE_DIGITS as u8)
        .with_skew(TOTP_SKEW_STEPS)
        .with_step_duration(TOTP_STEP_S)
        .with_secret(secret);
    if let Some(issuer) = issuer {
        builder = builder.with_account_name(account).with_issuer(Some(issuer));
    }
    builder
        .build()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("totp: {e}")))
}

/// The time step `code` is valid for at `now` (within the skew), if any.
pub(crate) fn matching_step(secret_base32: &str, code: &str, now: NaiveDateTime) -> Option<u64> {
    let code = code.trim();
    if code.len() != TOTP_CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let time = u64::try_from(now.and_utc().timestamp()).ok()?;
    build(secret, "", None).ok()?.check(code, time)
}

/// Accepts a login (or step-up) code for `user_id`, whose stored secret is
/// `stored` (sealed, or plaintext from before encryption), at most once per
/// step: the step is stored, and an equal or older step is refused, so a code
/// seen over a shoulder or in a log cannot be replayed. A secret that is
/// plaintext or sealed under an old key is sealed under the current one.
///
/// # Errors
/// Database errors; a secret no configured key opens.
pub(crate) fn accept_login_code(
    conn: &mut DbConnection,
    keys: &TotpKeys,
    user_id: &str,
    stored: &str,
    code: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let opened = keys.open(user_id, stored)?;
    let Some(step) =
        matching_step(&opened.secret_base32, code, now).and_then(|s| i64::try_from(s).ok())
    else {
        return Ok(false);
    };
    if opened.stale {
        let sealed = keys.seal(user_id, &opened.secret_base32)?;
        diesel::update(
            users::table
                .find(user_id)
                .filter(users::totp_secret.eq(stored)),
        )
        .set(users::totp_secret.eq(sealed))
        .execute(conn)?;
    }
    // One conditional update: two racing logins with the same code cannot both win.
    let updated = diesel::update(
        users::table.find(user_id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(updated == 1)
}

fn already_enrolled() -> AppError {
    AppError::Conflict {
        code: "totp_already_enrolled",
        message: "a second factor is already enrolled for this account".into(),
    }
}

/// Starts (or restarts) enrolment: a fresh secret, stored but not active until
/// [`confirm_totp`] sees a code from it.
///
/// # Errors
/// 409 `totp_already_enrolled`; database errors.
pub fn start_totp_enrolment(
    conn: &mut DbConnection,
    caller: &Caller,
    settings: &AuthSettings,
    now: NaiveDateTime,
) -> Result<TotpEnrolment, AppError> {
    let issuer = settings.totp_issuer.as_str();
    let secret = Secret::generate();
    let secret_base32 = secret.to_base32();
    // Only the sealed secret is stored; the plain one is in this answer only.
    let sealed = TotpKeys::load(conn, settings)?.seal(caller.user_id.as_str(), &secret_base32)?;
    let otpauth_url = build(secret, &caller.email, Some(issuer))?
        .to_url()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("otpauth url: {e}")))?;
    let updated = diesel::update(
        users::table
            .find(caller.user_id.as_str())
            .filter(users::totp_enrolled_at.is_null()),
    )
    .set((users::totp_secret.eq(&sealed), users::updated_at.eq(now)))
    .execute(conn)?;
    if updated == 0 {
        return Err(already_enrolled());
    }
    Ok(TotpEnrolment {
        secret: secret_base32,
        otpauth_url,
    })
}

/// Activates the enrolled secret once `code` proves the app has it; audited as
/// `totp.enrol`. The step of `code` counts as used.
///
/// # Errors
/// 409 `totp_already_enrolled` or `totp_enrolment_not_started`; 422
/// `totp_invalid` (param `code`); database errors.
pub fn confirm_totp(
    conn: &mut DbConnection,
    caller: &Caller,
    settings: &AuthSettings,
    code: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    write_transaction(conn, |conn| {
        let row = load_by_id(conn, caller.user_id.as_str())?;
        if row.totp_enrolled_at.is_some() {
            return Err(already_enrolled());
        }
        let Some(stored) = row.totp_secret else {
            return Err(AppError::Conflict {
                code: "totp_enrolment_not_started",
                message: "start enrolment with POST /v1/me/totp first".into(),
            });
        };
        let secret = TotpKeys::load(conn, settings)?
            .open(caller.user_id.as_str(), &stored)?
            .secret_base32;
        let step = matching_step(&secret, code, now)
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(|| {
                AppError::unprocessable(
                    "totp_invalid",
                    "the code does not match; check the authenticator app's clock",
                    Some("code".into()),
                )
            })?;
        diesel::update(users::table.find(caller.user_id.as_str()))
            .set((
                users::totp_enrolled_at.eq(now),
                users::totp_last_step.eq(step),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        record_audit_at(
            conn,
            AuditEntry::new("totp.enrol", caller.user_id.as_str())
                .actor(&caller.user_id)
                .context(context)
                .after(json!({"totp_enrolled": true})),
            now,
        )?;
        Ok(())
    })
}

/// Turns the second factor off. The password and a current code (used once,
/// like a sign-in's) prove the owner is here with the authenticator at hand,
/// so a session left open cannot do it; audited as `totp.disable`. A staff
/// account can do nothing else until it enrols again (see `extract`).
///
/// # Errors
/// 409 `totp_not_enrolled`; 422
/// `current_password_incorrect` (param `password`) or `totp_invalid` (param
/// `code`); database errors.
#[allow(clippy::too_many_arguments)] // each is one thing the check needs
pub fn disable_totp(
    conn: &mut DbConnection,
    caller: &Caller,
    settings: &AuthSettings,
    password: &str,
    code: &str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    write_transaction(conn, |conn| {
        let row = load_by_id(conn, caller.user_id.as_str())?;
        let (Some(stored), Some(_)) = (row.totp_secret.as_deref(), row.totp_enrolled_at) else {
            return Err(AppError::Conflict {
                code: "totp_not_enrolled",
                message: "two-step sign-in is not on for this account".into(),
            });
        };
        if !super::users::check_password(&row, password) {
            return Err(AppError::unprocessable(
                "current_password_incorrect",
                "the password is not correct",
                Some("password".into()),
            ));
        }
        let keys = TotpKeys::load(conn, settings)?;
        if !accept_login_code(conn, &keys, caller.user_id.as_str(), stored, code, now)? {
            return Err(AppError::unprocessable(
                "totp_invalid",
                "the code does not match, or was used already; wait for the next one",
                Some("code".into()),
            ));
        }
        diesel::update(users::table.find(caller.user_id.as_str()))
            .set((
                users::totp_secret.eq(None::<String>),
                users::totp_enrolled_at.eq(None::<NaiveDateTime>),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        record_audit_at(
            conn,
            AuditEntry::new("totp.disable", caller.user_id.as_str())
                .actor(&caller.user_id)
                .context(context)
                .before(json!({"totp_enrolled": true}))
                .after(json!({"totp_enrolled": false})),
            now,
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn at(unix: i64) -> NaiveDateTime {
        DateTime::from_timestamp(unix, 0).unwrap().naive_utc()
    }

    #[test]
    fn rfc_6238_sha1_vector_within_one_step_of_skew() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082
        // (8 digits); the 6-digit code is its last six.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(matching_step(&secret, "287082", at(59)), Some(1));
        assert_eq!(
            matching_step(&secret, "287082", at(89)),
            Some(1),
            "one step late"
        );
        assert_eq!(
            matching_step(&secret, "287082", at(120)),
            None,
            "two steps late"
        );
        assert_eq!(matching_step(&secret, "287083", at(59)), None);
        assert_eq!(matching_step(&secret, "28708", at(59)), None);
        assert_eq!(matching_step(&secret, "2870822", at(59)), None);
    }
}
