//! An account's life cycle: sign-up with a verified address, password reset
//! by emailed link, password change, and erasing a deleted account's
//! personal data from the auth tables.
//!
//! Decisions:
//! - Sign-up answers the same whether the address has an account or not
//!   (202, "check your email"), and takes as long: the password is hashed
//!   either way and every outcome is an email. A new address gets the link
//!   that verifies it; an address with an unverified account gets a fresh
//!   link and the latest sign-up's password and role (the first one never
//!   proved the address, so whoever reads the inbox wins); a verified account
//!   gets "someone tried to sign up with your address", at most one an hour.
//! - An account signs in only once its address is verified (403
//!   `email_not_verified`, told only to whoever knows the password).
//! - Emailed links carry a `bzt_` token of 256 random bits, made when the
//!   email is sent ([`mint_account_token`]) and stored only as its SHA-256:
//!   the outbox holds the user's id, never the token. A link works once and
//!   for `auth.email_verification_ttl_s` / `auth.password_reset_ttl_s`;
//!   using one uses every other outstanding link of that purpose.
//! - A reset or a change of password ends the account's other sessions (a
//!   reset ends all of them) and tells the owner by email. API keys are
//!   credentials of their own and stay until revoked.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::schema::{account_tokens, api_keys, login_failures, sessions, users};
use super::sessions::{end_sessions, open_session};
use super::throttle::Scope;
use super::users::{check_password, insert_user, load_by_email, load_by_id, UserRow, UserView};
use super::{tokens, Caller, Email, Password, RequestContext, Role, UserId};
use crate::config::AuthSettings;
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;
use crate::notify::messages::{AccountExists, AccountLink, PasswordChanged};
use crate::notify::Message;

/// Emailed tokens start with this.
const ACCOUNT_TOKEN_PREFIX: &str = "bzt_";
/// Random bytes in an emailed token (256 bits).
const ACCOUNT_TOKEN_BYTES: usize = 32;
/// The longest `next` path a verification link carries.
const NEXT_CHARS_MAX: usize = 512;

/// What an emailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ResetPassword]
            .into_iter()
            .find(|purpose| purpose.as_str() == name)
    }

    fn ttl(self, settings: &AuthSettings) -> std::time::Duration {
        match self {
            Self::VerifyEmail => settings.email_verification_ttl,
            Self::ResetPassword => settings.password_reset_ttl,
        }
    }
}

/// The answer to every sign-up, whatever the address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignupAccepted {
    /// The address the link was sent to, as normalised.
    pub email: String,
    /// Always `verification_sent`: the account opens when its emailed link is followed.
    pub status: &'static str,
}

/// An address verified; a session when the account may sign in without a
/// second factor.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailVerified {
    pub user: UserView,
    /// A bearer token for the new session; `null` for staff, who sign in
    /// with their second factor.
    pub token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A password set anew.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PasswordUpdated {
    pub user_id: UserId,
    /// Sessions signed out by the change.
    pub sessions_ended: i64,
}

/// The hour a notice falls in: at most one such email an hour per account.
fn hour_of(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp() / 3600
}

/// The minute a link email falls in: repeated clicks within it send one.
fn minute_of(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp() / 60
}

/// `next` if it is a path on this site (`/…`, not `//host`), else `None`.
pub fn local_path(next: Option<&str>) -> Option<String> {
    next.map(str::trim)
        .filter(|next| {
            next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && next.chars().count() <= NEXT_CHARS_MAX
                && !next.chars().any(char::is_control)
        })
        .map(str::to_owned)
}

fn queue_link(
    conn: &mut DbConnection,
    user_id: &str,
    email: &str,
    purpose: TokenPurpose,
    next: Option<String>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let link = AccountLink {
        user_id: user_id.to_owned(),
        next,
    };
    let message = match purpose {
        TokenPurpose::VerifyEmail => Message::VerifyEmail(link),
        TokenPurpose::ResetPassword => Message::ResetPassword(link),
    };
    crate::notify::enqueue(
        conn,
        &format!("{}:{user_id}:{}", purpose.as_str(), minute_of(now)),
        email,
        &message,
    )?;
    Ok(())
}

/// Public sign-up as a buyer or a seller. The answer is the same whether the
/// address has an account or not (see the module's decisions); audited as
/// `user.signup`, `user.signup_repeated` or `user.signup_existing`.
///
/// # Errors
/// 422 `role_not_allowed` (param `role`) for a staff role; database errors.
pub fn signup(
    conn: &mut DbConnection,
    email: &Email,
    password: &Password,
    role: Role,
    next: Option<&str>,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<SignupAccepted, AppError> {
    if !matches!(role, Role::Buyer | Role::Seller) {
        return Err(AppError::unprocessable(
            "role_not_allowed",
            "sign-up is for buyers and sellers; staff roles are given by an operator",
            Some("role".into()),
        ));
    }
    let next = local_path(next);
    // Hashed whatever the address, before the transaction: the time taken
    // says nothing of whether the account exists, and no lock is held.
    let password_hash = password.hash()?;
    write_transaction(conn, |conn| {
        match load_by_email(conn, email)? {
            None => {
                let user = insert_user(conn, email, &password_hash, role, None, now)?;
                queue_link(
                    conn,
                    user.id.as_str(),
                    &user.email,
                    TokenPurpose::VerifyEmail,
                    next.clone(),
                    now,
                )?;
                // By id, never by address: the log is append-only, and a
                // deleted account must leave no address behind in it.
                record_audit_at(
                    conn,
                    AuditEntry::new("user.signup", user.id.as_str())
                        .actor(&user.id)
                        .context(context)
                        .after(json!({"role": role})),
                    now,
                )?;
            }
            Some(row) if row.email_verified_at.is_none() && row.deleted_at.is_none() => {
                diesel::update(users::table.find(&row.id))
                    .set((
                        users::password_hash.eq(&password_hash),
                        users::role.eq(role.as_str()),
                        users::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                queue_link(
                    conn,
                    &row.id,
                    &row.email,
                    TokenPurpose::VerifyEmail,
                    next.clone(),
                    now,
                )?;
                record_audit_at(
                    conn,
                    AuditEntry::new("user.signup_repeated", row.id.as_str())
                        .context(context)
                        .after(json!({"role": role})),
                    now,
                )?;
            }
            Some(row) => {
                crate::notify::enqueue(
                    conn,
                    &format!("account_exists:{}:{}", row.id, hour_of(now)),
                    &row.email,
                    &Message::AccountExists(AccountExists {
                        from_address: context.ip.clone().unwrap_or_else(|| "unknown".into()),
                    }),
                )?;
                record_audit_at(
                    conn,
                    AuditEntry::new("user.signup_existing", row.id.as_str()).context(context),
                    now,
                )?;
            }
        }
        Ok(SignupAccepted {
            email: email.as_str().to_owned(),
            status: "verification_sent",
        })
    })
}

/// Creates an account whose address is vouched for by whoever runs the
/// command (the demo's seed): verified at once, no email. Audited as
/// `user.create_verified`.
///
/// # Errors
/// 409 `email_taken`; database errors.
pub fn create_verified_user(
    conn: &mut DbConnection,
    email: &Email,
    password: &Password,
    role: Role,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<UserView, AppError> {
    let password_hash = password.hash()?;
    write_transaction(conn, |conn| {
        let user = insert_user(conn, email, &password_hash, role, Some(now), now)?;
        record_audit_at(
            conn,
            AuditEntry::new("user.create_verified", user.id.as_str())
                .context(context)
                .after(json!({"role": role})),
            now,
        )?;
        Ok(user)
    })
}

/// Sends a fresh verification link to an account that has not verified its
/// address; for any other address, nothing — the answer is the same.
///
/// # Errors
/// Database errors.
pub fn resend_verification(
    conn: &mut DbConnection,
    email: &Email,
    next: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let next = local_path(next);
    write_transaction(conn, |conn| {
        if let Some(row) = load_by_email(conn, email)?
            .filter(|row| row.email_verified_at.is_none() && row.deleted_at.is_none())
        {
            queue_link(
                conn,
                &row.id,
                &row.email,
                TokenPurpose::VerifyEmail,
                next.clone(),
                now,
            )?;
        }
        Ok(())
    })
}

/// Emails a password-reset link to the account with this address, if there
/// is one; the answer is the same either way. Audited as
/// `user.password_reset_requested` when the account exists.
///
/// # Errors
/// Database errors.
pub fn request_password_reset(
    conn: &mut DbConnection,
    email: &Email,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    write_transaction(conn, |conn| {
        if let Some(row) = load_by_email(conn, email)?.filter(|row| row.deleted_at.is_none()) {
            queue_link(
                conn,
                &row.id,
                &row.email,
                TokenPurpose::ResetPassword,
                None,
                now,
            )?;
            record_audit_at(
                conn,
                AuditEntry::new("user.password_reset_requested", row.id.as_str()).context(context),
                now,
            )?;
        }
        Ok(())
    })
}

/// The token an account email's link carries, made when the email is sent
/// (the notifier calls this, see [`crate::notify::MintAccountToken`]): only
/// its digest is stored. `None` when the link is no longer wanted: the
/// account is gone, or its address is already verified.
///
/// # Errors
/// An unknown purpose (a bug); database errors.
pub fn mint_account_token(
    conn: &mut DbConnection,
    settings: &AuthSettings,
    user_id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, AppError> {
    let purpose = TokenPurpose::parse(purpose)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("account token purpose {purpose:?}")))?;
    let Some(user) = users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if user.deleted_at.is_some()
        || (purpose == TokenPurpose::VerifyEmail && user.email_verified_at.is_some())
    {
        return Ok(None);
    }
    let ttl = TimeDelta::from_std(purpose.ttl(settings))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("account token ttl: {e}")))?;
    let token = format!(
        "{ACCOUNT_TOKEN_PREFIX}{}",
        tokens::random_hex(ACCOUNT_TOKEN_BYTES)
    );
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::id.eq(format!("tok_{}", uuid::Uuid::new_v4().simple())),
            account_tokens::user_id.eq(user_id),
            account_tokens::purpose.eq(purpose.as_str()),
            account_tokens::token_hash.eq(tokens::digest(&token)),
            account_tokens::created_at.eq(now),
            account_tokens::expires_at.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(Some(token))
}

fn token_invalid() -> AppError {
    AppError::unprocessable(
        "token_invalid",
        "this link is not valid: it was already used, has expired, or was mistyped; ask for a new one",
        Some("token".into()),
    )
}

/// Uses the token: every outstanding token of its purpose for its account
/// is used with it. The caller holds a write transaction.
fn use_token(
    conn: &mut DbConnection,
    token: &str,
    purpose: TokenPurpose,
    now: NaiveDateTime,
) -> Result<UserRow, AppError> {
    let well_formed = token.strip_prefix(ACCOUNT_TOKEN_PREFIX).is_some_and(|hex| {
        hex.len() == ACCOUNT_TOKEN_BYTES * 2
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if !well_formed {
        return Err(token_invalid());
    }
    let user_id: Option<String> = account_tokens::table
        .filter(account_tokens::token_hash.eq(tokens::digest(token)))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(now))
        .select(account_tokens::user_id)
        .first(conn)
        .optional()?;
    let user_id = user_id.ok_or_else(token_invalid)?;
    // Conditional on still being unused: of two requests with one link, one wins.
    let used = diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(&user_id))
            .filter(account_tokens::purpose.eq(purpose.as_str()))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)?;
    if used == 0 {
        return Err(token_invalid());
    }
    let user = load_by_id(conn, &user_id)?;
    if user.deleted_at.is_some() {
        return Err(token_invalid());
    }
    Ok(user)
}

/// Follows a verification link: the address is verified (audited as
/// `user.email_verified`) and, for an account without a second factor, a
/// session opens.
///
/// # Errors
/// 422 `token_invalid`; database errors.
pub fn verify_email(
    conn: &mut DbConnection,
    token: &str,
    settings: &AuthSettings,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<EmailVerified, AppError> {
    write_transaction(conn, |conn| {
        let user = use_token(conn, token, TokenPurpose::VerifyEmail, now)?;
        diesel::update(
            users::table
                .find(&user.id)
                .filter(users::email_verified_at.is_null()),
        )
        .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
        .execute(conn)?;
        let view = user.view()?;
        record_audit_at(
            conn,
            AuditEntry::new("user.email_verified", user.id.as_str())
                .actor(&view.id)
                .context(context),
            now,
        )?;
        if view.role.is_staff() || user.totp_enrolled_at.is_some() {
            return Ok(EmailVerified {
                user: view,
                token: None,
                expires_at: None,
            });
        }
        let session = open_session(conn, view, settings, context, now)?;
        Ok(EmailVerified {
            user: session.user,
            token: Some(session.token),
            expires_at: Some(session.expires_at),
        })
    })
}

/// Sets the password, ends the sessions, tells the owner; the caller holds a
/// write transaction.
#[allow(clippy::too_many_arguments)]
fn set_password(
    conn: &mut DbConnection,
    user: &UserRow,
    password_hash: &str,
    keep_session: Option<&str>,
    how: &'static str,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<PasswordUpdated, AppError> {
    diesel::update(users::table.find(&user.id))
        .set((
            users::password_hash.eq(password_hash),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    let sessions_ended = end_sessions(conn, &user.id, keep_session, now)?;
    record_audit_at(
        conn,
        AuditEntry::new(
            if how == "reset" {
                "user.password_reset"
            } else {
                "user.password_change"
            },
            user.id.as_str(),
        )
        .actor(&UserId(user.id.clone()))
        .context(context)
        .after(json!({"sessions_ended": sessions_ended})),
        now,
    )?;
    crate::notify::enqueue(
        conn,
        &format!(
            "password_changed:{}:{}",
            user.id,
            uuid::Uuid::new_v4().simple()
        ),
        &user.email,
        &Message::PasswordChanged(PasswordChanged {
            how: how.to_owned(),
            from_address: context.ip.clone().unwrap_or_else(|| "unknown".into()),
            sessions_ended,
        }),
    )?;
    Ok(PasswordUpdated {
        user_id: UserId(user.id.clone()),
        sessions_ended,
    })
}

/// Follows a password-reset link: the new password is set, every session
/// ends, the address counts as verified (the link proved it) and the
/// account's sign-in lockout is lifted.
///
/// # Errors
/// 422 `token_invalid`; 422 for a password that does not pass
/// [`Password::parse`] is the caller's; database errors.
pub fn reset_password(
    conn: &mut DbConnection,
    token: &str,
    new_password: &Password,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<PasswordUpdated, AppError> {
    let password_hash = new_password.hash()?;
    write_transaction(conn, |conn| {
        let user = use_token(conn, token, TokenPurpose::ResetPassword, now)?;
        diesel::update(
            users::table
                .find(&user.id)
                .filter(users::email_verified_at.is_null()),
        )
        .set(users::email_verified_at.eq(now))
        .execute(conn)?;
        diesel::delete(
            login_failures::table
                .filter(login_failures::scope.eq(Scope::Email.as_str()))
                .filter(login_failures::subject.eq(&user.email)),
        )
        .execute(conn)?;
        set_password(conn, &user, &password_hash, None, "reset", context, now)
    })
}

/// The signed-in user changes their password, giving the current one; every
/// other session ends.
///
/// # Errors
/// 422 `current_password_incorrect` (param `current_password`); database errors.
pub fn change_password(
    conn: &mut DbConnection,
    caller: &Caller,
    session_id: Option<&str>,
    current_password: &str,
    new_password: &Password,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<PasswordUpdated, AppError> {
    let user = load_by_id(conn, caller.user_id.as_str())?;
    if !check_password(&user, current_password) {
        return Err(current_password_incorrect());
    }
    let password_hash = new_password.hash()?;
    write_transaction(conn, |conn| {
        set_password(
            conn,
            &user,
            &password_hash,
            session_id,
            "changed",
            context,
            now,
        )
    })
}

fn current_password_incorrect() -> AppError {
    AppError::unprocessable(
        "current_password_incorrect",
        "the current password is not correct",
        Some("current_password".into()),
    )
}

/// Checks that `caller` may delete their own account with this password.
///
/// # Errors
/// 403 `account_not_deletable` for sellers and staff (a shop's books and
/// staff's audit trail need their account); 422 `current_password_incorrect`.
pub fn check_deletion(
    conn: &mut DbConnection,
    caller: &Caller,
    current_password: &str,
) -> Result<(), AppError> {
    if caller.role != Role::Buyer {
        return Err(AppError::ForbiddenWith {
            code: "account_not_deletable",
            message: "only buyer accounts can be deleted here; a seller closes their shops with the operator, staff accounts are removed by an operator".into(),
        });
    }
    let user = load_by_id(conn, caller.user_id.as_str())?;
    if check_password(&user, current_password) {
        Ok(())
    } else {
        Err(current_password_incorrect())
    }
}

/// What a deleted account was, for the modules that erase the rest.
#[derive(Debug, Clone)]
pub struct ErasedAccount {
    /// The address the account had.
    pub former_email: String,
    /// The address that stands in for it from now on (never deliverable).
    pub placeholder_email: String,
}

/// Erases an account's personal data from the auth tables, in the caller's
/// transaction: the row stays (orders and the audit log name it) with its
/// address replaced, no password, no second factor; sessions, API keys,
/// emailed links and throttle rows go. Audited as `user.deleted`.
///
/// # Errors
/// 404 for an unknown or already deleted account; database errors.
pub fn erase_account(
    conn: &mut DbConnection,
    user_id: &UserId,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<ErasedAccount, AppError> {
    let user = load_by_id(conn, user_id.as_str())?;
    if user.deleted_at.is_some() {
        return Err(AppError::NotFound { resource: "user" });
    }
    let placeholder_email = format!("deleted-{}@deleted.invalid", user.id);
    diesel::update(users::table.find(&user.id))
        .set((
            users::email.eq(&placeholder_email),
            // Not a PHC string: no password ever verifies against it.
            users::password_hash.eq("!deleted"),
            users::totp_secret.eq(None::<String>),
            users::totp_enrolled_at.eq(None::<NaiveDateTime>),
            users::deleted_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(&user.id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)?;
    diesel::update(
        api_keys::table
            .filter(api_keys::user_id.eq(&user.id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)?;
    diesel::delete(account_tokens::table.filter(account_tokens::user_id.eq(&user.id)))
        .execute(conn)?;
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(Scope::Email.as_str()))
            .filter(login_failures::subject.eq(&user.email)),
    )
    .execute(conn)?;
    let escaped = user
        .email
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(Scope::EmailAtAddress.as_str()))
            .filter(
                login_failures::subject
                    .like(format!("{escaped} %"))
                    .escape('\\'),
            ),
    )
    .execute(conn)?;
    record_audit_at(
        conn,
        AuditEntry::new("user.deleted", user.id.as_str())
            .actor(user_id)
            .context(context),
        now,
    )?;
    Ok(ErasedAccount {
        former_email: user.email,
        placeholder_email,
    })
}
