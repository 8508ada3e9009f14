//! Request rates per client, shared by every process on one database: a
//! token bucket per key (a client address, a user) holds `rate` tokens and
//! refills continuously; a request takes one or is answered 429 with the
//! seconds until one is back.
//!
//! A bucket is one row of `rate_limit_buckets` kept by the generic cell rate
//! algorithm: the row holds the instant the bucket is full again, and one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` takes tokens or finds
//! too few, atomically, whichever process asks. So N processes behind a load
//! balancer allow the limit once, not N times.
//!
//! A bucket refilling faster than [`LEASES_PER_SECOND`] rows a second (the
//! webhook limit: thousands a second) lets a process take a lease of several
//! tokens at once and spend them without the database; at most one lease per
//! key and process is outstanding, so the overshoot is bounded by the number
//! of processes times the lease.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::QueryableByName;

use crate::config::LimitSettings;
use crate::db::dialect::{load_sql, SqlValue};
use crate::db::{DbConnection, DbPool};
use crate::error::AppError;

/// Leases a bucket gives out per second at most (per key and process): a
/// lease holds 1/this of a second's refill.
const LEASES_PER_SECOND: i64 = 20;

/// A lease unspent this long is dropped (its tokens are then simply unused).
const LEASE_LIFETIME: Duration = Duration::from_secs(1);

/// Leases held before expired ones are forgotten.
const LEASES_BEFORE_SWEEP: usize = 50_000;

/// Claims between two deletions of full buckets' rows (a full bucket is the
/// same as none).
const CLAIMS_BETWEEN_SWEEPS: u64 = 1_000;

/// What a claim of tokens found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The tokens asked for were taken.
    Taken,
    /// Too few tokens: one is back in this many seconds (at least 1).
    Refused { retry_after_s: u64 },
}

/// One limit: `rate` requests per `per`, per key, named `name` in the shared
/// table.
#[derive(Debug)]
pub struct Bucket {
    figures: Shared,
    /// Tokens a process takes at once.
    lease: i64,
    pool: DbPool,
    leases: Mutex<HashMap<String, (i64, Instant)>>,
    claims: AtomicU64,
}

impl Bucket {
    /// A limit of `rate` requests per `per`, counted in `pool`'s database.
    pub fn new(name: &'static str, rate: u32, per: Duration, pool: DbPool) -> Self {
        let rate = i64::from(rate.max(1));
        let per_us = i64::try_from(per.as_micros()).unwrap_or(i64::MAX).max(1);
        let per_s = i64::try_from(per.as_secs()).unwrap_or(i64::MAX).max(1);
        Self {
            figures: Shared {
                name,
                interval_us: (per_us / rate).max(1),
                per_us,
            },
            lease: (rate / per_s / LEASES_PER_SECOND).clamp(1, rate),
            pool,
            leases: Mutex::new(HashMap::new()),
            claims: AtomicU64::new(0),
        }
    }

    /// Takes a token for `key`.
    ///
    /// # Errors
    /// 429 `rate_limited` with `Retry-After` when the key's bucket is empty;
    /// 503 when the database cannot be reached.
    pub async fn take(&self, key: &str) -> Result<(), AppError> {
        if self.lease > 1 && self.spend_leased(key) {
            return Ok(());
        }
        let (bucket, client, lease) = (self.figures, key.to_owned(), self.lease);
        let sweep = self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CLAIMS_BETWEEN_SWEEPS);
        let (claim, leased) = crate::db::run(&self.pool, move |conn| {
            let now_us = now_us();
            if sweep {
                crate::db::single_write(conn, |conn| forget_full_buckets(conn, now_us))?;
            }
            if lease > 1 && bucket.claim(conn, &client, now_us, lease)? == Claim::Taken {
                return Ok((Claim::Taken, lease - 1));
            }
            Ok((bucket.claim(conn, &client, now_us, 1)?, 0))
        })
        .await?;
        match claim {
            Claim::Taken => {
                if leased > 0 {
                    self.keep_lease(key, leased);
                }
                Ok(())
            }
            Claim::Refused { retry_after_s } => Err(AppError::RateLimited { retry_after_s }),
        }
    }

    /// Takes `n` tokens for `key` at `now_us` (microseconds since the Unix
    /// epoch) straight from the database, as [`Bucket::take`] does.
    ///
    /// # Errors
    /// A database failure.
    pub fn claim_at(
        &self,
        conn: &mut DbConnection,
        key: &str,
        now_us: i64,
        n: i64,
    ) -> Result<Claim, AppError> {
        self.figures.claim(conn, key, now_us, n)
    }

    /// Spends a token of this process's lease for `key`, if one is left.
    fn spend_leased(&self, key: &str) -> bool {
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match leases.get_mut(key) {
            Some((left, until)) if *left > 0 && *until > Instant::now() => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    fn keep_lease(&self, key: &str, tokens: i64) {
        let now = Instant::now();
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if leases.len() >= LEASES_BEFORE_SWEEP {
            leases.retain(|_, (left, until)| *left > 0 && *until > now);
        }
        leases.insert(key.to_owned(), (tokens, now + LEASE_LIFETIME));
    }
}

/// A bucket's figures: what a claim needs, copied into the blocking task.
#[derive(Debug, Clone, Copy)]
struct Shared {
    name: &'static str,
    /// The time one token takes to come back.
    interval_us: i64,
    per_us: i64,
}

#[derive(QueryableByName)]
struct FullAt {
    #[diesel(sql_type = BigInt)]
    full_at_us: i64,
}

impl Shared {
    /// Takes `n` tokens from `client`'s bucket at `now_us`, or none (one
    /// statement: see [`crate::db::single_write`]).
    ///
    /// The row holds the instant the bucket is full again (`full_at`). Taking
    /// `n` moves it to `max(full_at, now) + n·interval`, allowed while that
    /// stays within `per` of now: `full_at - now <= per - n·interval`.
    fn claim(
        &self,
        conn: &mut DbConnection,
        client: &str,
        now_us: i64,
        n: i64,
    ) -> Result<Claim, AppError> {
        crate::db::single_write(conn, |conn| {
            let cost = n.saturating_mul(self.interval_us);
            let taken: Vec<FullAt> = load_sql(
            conn,
            "INSERT INTO rate_limit_buckets (bucket, client, full_at_us) VALUES (?, ?, ?) \
             ON CONFLICT (bucket, client) DO UPDATE SET full_at_us = \
             CASE WHEN rate_limit_buckets.full_at_us > ? THEN rate_limit_buckets.full_at_us ELSE ? END + ? \
             WHERE rate_limit_buckets.full_at_us - ? <= ? \
             RETURNING full_at_us",
            &[
                SqlValue::Text(self.name.to_owned()),
                SqlValue::Text(client.to_owned()),
                SqlValue::BigInt(now_us + cost),
                SqlValue::BigInt(now_us),
                SqlValue::BigInt(now_us),
                SqlValue::BigInt(cost),
                SqlValue::BigInt(now_us),
                SqlValue::BigInt(self.per_us - cost),
            ],
        )?;
            if !taken.is_empty() {
                return Ok(Claim::Taken);
            }
            let full: Vec<FullAt> = load_sql(
                conn,
                "SELECT full_at_us FROM rate_limit_buckets WHERE bucket = ? AND client = ?",
                &[
                    SqlValue::Text(self.name.to_owned()),
                    SqlValue::Text(client.to_owned()),
                ],
            )?;
            let full_at_us = full.first().map_or(now_us, |row| row.full_at_us);
            // One token is back when full_at - now <= per - interval.
            let wait_us = full_at_us - now_us - (self.per_us - self.interval_us);
            let wait_s = u64::try_from(wait_us.max(0))
                .unwrap_or(0)
                .div_ceil(1_000_000);
            Ok(Claim::Refused {
                retry_after_s: wait_s.max(1),
            })
        })
    }
}

/// Deletes the rows of buckets that are full by `now_us`.
fn forget_full_buckets(conn: &mut DbConnection, now_us: i64) -> Result<(), AppError> {
    use diesel::RunQueryDsl;
    // A number formatted in, not a bound value: one text for both backends'
    // placeholder styles.
    diesel::sql_query(format!(
        "DELETE FROM rate_limit_buckets WHERE full_at_us <= {now_us}"
    ))
    .execute(conn)?;
    Ok(())
}

/// Microseconds since the Unix epoch: every process on the database shares
/// this clock.
pub fn now_us() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// The limits the API enforces.
#[derive(Debug)]
pub struct RateLimits {
    /// Sign-ups per client address.
    pub signup: Bucket,
    /// Checkouts per buyer.
    pub checkout: Bucket,
    /// Webhook deliveries per client address.
    pub webhooks: Bucket,
    /// Requests that call the payments provider (syncs, onboarding links),
    /// per user: one client cannot spend the platform's provider budget.
    pub provider_calls: Bucket,
    /// Sign-in attempts per client address.
    pub logins: Bucket,
    /// Sign-in attempts per subnet of client addresses.
    pub login_subnets: Bucket,
    /// Pictures uploaded per seller.
    pub uploads: Bucket,
    /// The password checks running and waiting: per process, since what it
    /// guards is this process's cores and memory.
    pub passwords: PasswordGate,
}

/// The subnet an address belongs to for sign-in limits: its IPv4 /24 or
/// IPv6 /64 (one customer's allocation), so a flood spread over a block of
/// addresses still counts as one. Anything else is its own subnet.
pub fn subnet_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.to_owned(),
    }
}

/// Bounds password hashing (argon2: tens of milliseconds of a core and
/// 19 MiB each, on purpose) to a few at once, with a short queue: a flood of
/// sign-ins is answered 429 at once beyond it, instead of every request —
/// every client's — waiting behind thousands of hashes.
#[derive(Debug)]
pub struct PasswordGate {
    permits: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    waiting_max: usize,
}

/// Held while a password is checked.
pub type PasswordCheck<'a> = tokio::sync::SemaphorePermit<'a>;

impl PasswordGate {
    pub fn new(at_once: usize, waiting_max: usize) -> Self {
        Self {
            permits: tokio::sync::Semaphore::new(at_once.max(1)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            waiting_max,
        }
    }

    /// Waits for a turn to check a password, or refuses at once when the
    /// queue is full.
    ///
    /// # Errors
    /// 429 `rate_limited` (retry after a second) when `waiting_max` requests
    /// already wait.
    pub async fn enter(&self) -> Result<PasswordCheck<'_>, AppError> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        if queued >= self.waiting_max {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(AppError::RateLimited { retry_after_s: 1 });
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.map_err(|_| AppError::Internal(anyhow::anyhow!("password gate closed")))
    }
}

impl RateLimits {
    /// Counts a sign-in attempt from `ip` (its address and its subnet), then
    /// waits for a turn to check the password. Nothing about the account is
    /// read before this passes.
    ///
    /// # Errors
    /// 429 `rate_limited` with the seconds to wait.
    pub async fn sign_in_attempt(&self, ip: Option<&str>) -> Result<PasswordCheck<'_>, AppError> {
        if let Some(ip) = ip {
            self.logins.take(ip).await?;
            self.login_subnets.take(&subnet_of(ip)).await?;
        }
        self.passwords.enter().await
    }

    /// Takes one from the client address's sign-up allowance
    /// (`limits.signup_per_minute`): sign-ups and the requests that email a
    /// link (resend a verification, ask for a reset) each cost a message.
    ///
    /// # Errors
    /// 429 `rate_limited` with the seconds to wait.
    pub async fn email_sending(&self, ip: Option<&str>) -> Result<(), AppError> {
        self.signup.take(ip.unwrap_or("unknown")).await
    }
}

impl RateLimits {
    /// The limits of `settings`, and `uploads_per_minute` per seller
    /// (`media.uploads_per_minute`), counted in `pool`'s database.
    pub fn new(settings: &LimitSettings, uploads_per_minute: u32, pool: &DbPool) -> Self {
        let minute = Duration::from_secs(60);
        let bucket = |name, rate, per| Bucket::new(name, rate, per, pool.clone());
        Self {
            signup: bucket("signup", settings.signup_per_minute, minute),
            checkout: bucket("checkout", settings.checkout_per_minute, minute),
            webhooks: bucket(
                "webhooks",
                settings.webhooks_per_second,
                Duration::from_secs(1),
            ),
            provider_calls: bucket("provider_calls", settings.provider_calls_per_minute, minute),
            logins: bucket("logins", settings.logins_per_minute, minute),
            login_subnets: bucket(
                "login_subnets",
                settings.logins_per_minute_per_subnet,
                minute,
            ),
            uploads: bucket("uploads", uploads_per_minute, minute),
            passwords: PasswordGate::new(
                settings.password_checks_at_once,
                settings.password_checks_waiting_max,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_ipv4_24_and_ipv6_64() {
        assert_eq!(subnet_of("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(subnet_of("203.0.113.250"), "203.0.113.0/24");
        assert_eq!(subnet_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(subnet_of("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_eq!(subnet_of("not-an-ip"), "not-an-ip");
    }

    #[tokio::test]
    async fn the_password_gate_refuses_at_once_past_its_queue() {
        let gate = std::sync::Arc::new(PasswordGate::new(1, 1));
        let held = gate.enter().await.unwrap();
        // One request may wait for the check running now…
        let queued = {
            let gate = std::sync::Arc::clone(&gate);
            tokio::spawn(async move { gate.enter().await.map(drop) })
        };
        while gate.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // …the next is refused without waiting.
        match gate.enter().await {
            Err(AppError::RateLimited { retry_after_s }) => assert_eq!(retry_after_s, 1),
            other => panic!("expected a refusal, got {:?}", other.map(drop)),
        }
        drop(held);
        queued.await.unwrap().unwrap();
    }
}
