//! Login throttling in the database, so every server process sharing it agrees.
//!
//! A failed login adds one row per scope: the client address, the normalised
//! email at that address, and the email alone (whether or not an account has
//! it, so a lockout reveals nothing). When a scope has its maximum of rows
//! inside the window, attempts in that scope are refused until enough of them
//! age out. Refused attempts add no rows, so a lockout ends at a time the
//! caller is told (`Retry-After`).
//!
//! The email at one address locks after `failures_max`; the email alone only
//! after [`ACCOUNT_WIDE_FACTOR`] times as many, and never for an account with
//! a second factor: otherwise anyone could lock an operator out from any
//! address, while the owner, with the password and the code, must get in.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::login_failures;
use crate::config::AuthSettings;
use crate::db::DbConnection;
use crate::error::AppError;

/// Rows read per check; more than any sane `failures_max` (config allows ≤ 100).
const FAILURE_ROWS_READ_MAX: i64 = 1_000;

/// How many more failures, from all addresses together, lock an account
/// without a second factor than lock it at one address.
pub const ACCOUNT_WIDE_FACTOR: u32 = 4;

/// The throttle's rule: `failures_max` failures within `window` lock a scope.
#[derive(Debug, Clone, Copy)]
pub struct LoginThrottle {
    pub failures_max: u32,
    pub window: TimeDelta,
}

impl LoginThrottle {
    /// The rule from `auth.login_failures_max` and `auth.login_lockout_s`.
    pub fn from_settings(settings: &AuthSettings) -> Self {
        Self {
            failures_max: settings.login_failures_max,
            window: TimeDelta::from_std(settings.login_lockout).unwrap_or(TimeDelta::MAX),
        }
    }

    /// The rule for an account's failures from every address together.
    pub fn account_wide(self) -> Self {
        Self {
            failures_max: self.failures_max.saturating_mul(ACCOUNT_WIDE_FACTOR),
            window: self.window,
        }
    }
}

/// The subject of the email-at-an-address scope.
pub(crate) fn email_at(email: &str, ip: Option<&str>) -> String {
    format!("{email} {}", ip.unwrap_or("-"))
}

/// What a failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The email, from every address.
    Email,
    /// The email from one address ([`email_at`]).
    EmailAtAddress,
    /// The client address, whatever the email.
    Address,
}

impl Scope {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scope::Email => "email",
            Scope::EmailAtAddress => "email_address",
            Scope::Address => "address",
        }
    }
}

impl LoginThrottle {
    /// Seconds until `subject` may try again, or `None` when it may now.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn retry_after(
        &self,
        conn: &mut DbConnection,
        scope: Scope,
        subject: &str,
        now: NaiveDateTime,
    ) -> Result<Option<u64>, AppError> {
        let times: Vec<NaiveDateTime> = login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject))
            .filter(login_failures::at.gt(now - self.window))
            .order(login_failures::at.asc())
            .select(login_failures::at)
            .limit(FAILURE_ROWS_READ_MAX)
            .load(conn)?;
        let max = self.failures_max as usize;
        if max == 0 || times.len() < max {
            return Ok(None);
        }
        // Unlocked once only max - 1 failures remain in the window: when the
        // (len - max)-th oldest one leaves it.
        let unlock_at = times[times.len() - max] + self.window;
        let wait = (unlock_at - now).num_milliseconds().max(0);
        // Round up, so a client that waits exactly Retry-After is let in.
        Ok(Some(u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1)))
    }

    /// How many failures `subject` has inside the window now.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn failures(
        &self,
        conn: &mut DbConnection,
        scope: Scope,
        subject: &str,
        now: NaiveDateTime,
    ) -> Result<i64, AppError> {
        Ok(login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject))
            .filter(login_failures::at.gt(now - self.window))
            .count()
            .get_result(conn)?)
    }

    /// Counts a failure against `subject`; true when it is the one that locks it.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn record_failure(
        &self,
        conn: &mut DbConnection,
        scope: Scope,
        subject: &str,
        now: NaiveDateTime,
    ) -> Result<bool, AppError> {
        // Rows that left the window count for nothing: prune them as we go, so the
        // table stays the size of the current window.
        diesel::delete(login_failures::table.filter(login_failures::at.le(now - self.window)))
            .execute(conn)?;
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::id.eq(format!("lgf_{}", uuid::Uuid::new_v4().simple())),
                login_failures::scope.eq(scope.as_str()),
                login_failures::subject.eq(subject),
                login_failures::at.eq(now),
            ))
            .execute(conn)?;
        let in_window = self.failures(conn, scope, subject, now)?;
        Ok(in_window == i64::from(self.failures_max))
    }

    /// Forgets the failures of `subject` (after a successful login).
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn reset(
        &self,
        conn: &mut DbConnection,
        scope: Scope,
        subject: &str,
    ) -> Result<(), AppError> {
        diesel::delete(
            login_failures::table
                .filter(login_failures::scope.eq(scope.as_str()))
                .filter(login_failures::subject.eq(subject)),
        )
        .execute(conn)?;
        Ok(())
    }
}
