//! Users: sign-up, the first operator, look-ups and role changes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{record_audit_at, AuditEntry};
use super::schema::{sessions, users};
use super::{password, Caller, Email, Password, RequestContext, Role, UserId};
use crate::config::AuthSettings;
use crate::db::{write_transaction, DbConnection};
use crate::error::AppError;

/// Whether `candidate` is `user`'s password; an over-long candidate is not
/// hashed at all.
pub(crate) fn check_password(user: &UserRow, candidate: &str) -> bool {
    candidate.chars().count() <= password::PASSWORD_CHARS_MAX
        && password::verify(candidate, &user.password_hash)
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub role: Role,
}

/// The caller's own account, as `GET /v1/me` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: UserView,
    /// Whether logins need a TOTP code.
    pub totp_enrolled: bool,
}

/// A user's stored row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub totp_secret: Option<String>,
    pub totp_enrolled_at: Option<NaiveDateTime>,
    pub email_verified_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    /// Set while an operator keeps the account disabled.
    pub disabled_at: Option<NaiveDateTime>,
}

impl UserRow {
    pub(crate) fn role(&self) -> Result<Role, AppError> {
        Role::parse(&self.role).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("unknown role {:?} stored", self.role))
        })
    }

    pub(crate) fn view(&self) -> Result<UserView, AppError> {
        Ok(UserView {
            id: UserId(self.id.clone()),
            email: self.email.clone(),
            role: self.role()?,
        })
    }
}

pub(crate) fn load_by_email(
    conn: &mut DbConnection,
    email: &Email,
) -> Result<Option<UserRow>, AppError> {
    Ok(users::table
        .filter(users::email.eq(email.as_str()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn load_by_id(conn: &mut DbConnection, id: &str) -> Result<UserRow, AppError> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { resource: "user" })
}

fn email_taken() -> AppError {
    AppError::Conflict {
        code: "email_taken",
        message: "an account with this email already exists".into(),
    }
}

/// Inserts a user, its address verified at `verified_at` (`None`: a sign-up
/// that waits for its emailed link); the caller holds a write transaction.
pub(super) fn insert_user(
    conn: &mut DbConnection,
    email: &Email,
    password_hash: &str,
    role: Role,
    verified_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<UserView, AppError> {
    if load_by_email(conn, email)?.is_some() {
        return Err(email_taken());
    }
    let id = UserId::generate();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.as_str()),
            users::email.eq(email.as_str()),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::email_verified_at.eq(verified_at),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|error| match error {
            // A concurrent sign-up with the same email won the race.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => email_taken(),
            other => other.into(),
        })?;
    Ok(UserView {
        id,
        email: email.as_str().to_owned(),
        role,
    })
}

/// Creates an operator (for `bazaar admin create-operator`), audited as
/// `user.create_operator`. The operator must enrol TOTP at first login.
///
/// # Errors
/// 422 `invalid_email` / `password_too_short` / `password_too_long` /
/// `password_too_common`; 409 `email_taken`; database errors.
pub fn create_operator(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
) -> Result<UserId, AppError> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let password_hash = password.hash()?;
    let now = crate::db::now();
    write_transaction(conn, |conn| {
        // Whoever runs the command vouches for the address.
        let user = insert_user(conn, &email, &password_hash, Role::Operator, Some(now), now)?;
        let context = RequestContext {
            ip: None,
            request_id: Some("cli".into()),
        };
        record_audit_at(
            conn,
            AuditEntry::new("user.create_operator", user.id.as_str())
                .context(&context)
                .after(json!({"email": user.email, "role": Role::Operator})),
            now,
        )?;
        Ok(user.id)
    })
}

/// The user with this id.
///
/// # Errors
/// 404 `not_found`; database errors.
pub fn get_user(conn: &mut DbConnection, id: &UserId) -> Result<UserView, AppError> {
    load_by_id(conn, id.as_str())?.view()
}

/// The caller's own account with its second-factor state.
///
/// # Errors
/// 404 if the account is gone; database errors.
pub fn get_me(conn: &mut DbConnection, id: &UserId) -> Result<Me, AppError> {
    let row = load_by_id(conn, id.as_str())?;
    Ok(Me {
        user: row.view()?,
        totp_enrolled: row.totp_enrolled_at.is_some(),
    })
}

/// The user with this (normalised) email, if any.
///
/// # Errors
/// Database errors.
pub fn find_user_by_email(
    conn: &mut DbConnection,
    email: &Email,
) -> Result<Option<UserView>, AppError> {
    load_by_email(conn, email)?
        .map(|row| row.view())
        .transpose()
}

/// An operator gives `target` the role `role`; audited as `user.role_change`
/// with the role before and after. Takes effect on the target's next request;
/// a promotion to a staff role also shortens the target's live sessions to
/// `auth.staff_session_ttl` from now, as if signed in as staff.
///
/// # Errors
/// 403 unless `actor` is an operator; 404 for an unknown user; 409
/// `cannot_change_own_role` (an operator demoting themself could leave no
/// operator); database errors.
pub fn change_role(
    conn: &mut DbConnection,
    actor: &Caller,
    target: &UserId,
    role: Role,
    settings: &AuthSettings,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<UserView, AppError> {
    actor.require(super::policy::CHANGE_ROLE)?;
    if actor.user_id == *target {
        return Err(AppError::Conflict {
            code: "cannot_change_own_role",
            message: "operators cannot change their own role; ask another operator".into(),
        });
    }
    write_transaction(conn, |conn| {
        let row = load_by_id(conn, target.as_str())?;
        let before = row.role()?;
        if before == role {
            return row.view();
        }
        diesel::update(users::table.find(target.as_str()))
            .set((users::role.eq(role.as_str()), users::updated_at.eq(now)))
            .execute(conn)?;
        if role.is_staff() {
            let ttl = chrono::TimeDelta::from_std(super::session_ttl(settings, role))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("staff session ttl: {e}")))?;
            let latest = now + ttl;
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(target.as_str()))
                    .filter(sessions::revoked_at.is_null())
                    .filter(sessions::expires_at.gt(latest)),
            )
            .set(sessions::expires_at.eq(latest))
            .execute(conn)?;
        }
        record_audit_at(
            conn,
            AuditEntry::new("user.role_change", target.as_str())
                .actor(&actor.user_id)
                .context(context)
                .before(json!({"role": before}))
                .after(json!({"role": role})),
            now,
        )?;
        Ok(UserView {
            id: target.clone(),
            email: row.email,
            role,
        })
    })
}
