//! Request rates per client: token buckets in memory, one per key (a client
//! address, a buyer). A bucket holds `rate` tokens and refills continuously;
//! a request takes one or is answered 429 with the seconds until one is back.
//! Per process: behind a load balancer each process allows its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LimitSettings;
use crate::error::AppError;

/// Keys held before full (idle) buckets are forgotten.
const KEYS_BEFORE_SWEEP: usize = 50_000;

/// One limit: `rate` requests per `per`, per key.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    per: Duration,
    keys: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Bucket {
    /// A limit of `rate` requests per `per`.
    pub fn new(rate: u32, per: Duration) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            per,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn refill_per_s(&self) -> f64 {
        self.rate / self.per.as_secs_f64()
    }

    /// Takes a token for `key` at `now`.
    ///
    /// # Errors
    /// 429 `rate_limited` with `Retry-After` when the key's bucket is empty.
    pub fn take_at(&self, key: &str, now: Instant) -> Result<(), AppError> {
        let refill = self.refill_per_s();
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.len() >= KEYS_BEFORE_SWEEP {
            let rate = self.rate;
            keys.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * refill < rate
            });
        }
        let (tokens, at) = keys.entry(key.to_owned()).or_insert((self.rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * refill).min(self.rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / refill).ceil();
            Err(AppError::RateLimited {
                // At least 1 s; the bucket is never emptier than one token short.
                retry_after_s: (wait as u64).max(1),
            })
        }
    }

    /// Takes a token for `key` now (see [`Bucket::take_at`]).
    ///
    /// # Errors
    /// 429 `rate_limited` when the key's bucket is empty.
    pub fn take(&self, key: &str) -> Result<(), AppError> {
        self.take_at(key, Instant::now())
    }
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
    /// The password checks running and waiting.
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
            self.logins.take(ip)?;
            self.login_subnets.take(&subnet_of(ip))?;
        }
        self.passwords.enter().await
    }

    /// Takes one from the client address's sign-up allowance
    /// (`limits.signup_per_minute`): sign-ups and the requests that email a
    /// link (resend a verification, ask for a reset) each cost a message.
    ///
    /// # Errors
    /// 429 `rate_limited` with the seconds to wait.
    pub fn email_sending(&self, ip: Option<&str>) -> Result<(), AppError> {
        self.signup.take(ip.unwrap_or("unknown"))
    }
}

impl RateLimits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            signup: Bucket::new(settings.signup_per_minute, Duration::from_secs(60)),
            checkout: Bucket::new(settings.checkout_per_minute, Duration::from_secs(60)),
            webhooks: Bucket::new(settings.webhooks_per_second, Duration::from_secs(1)),
            provider_calls: Bucket::new(
                settings.provider_calls_per_minute,
                Duration::from_secs(60),
            ),
            logins: Bucket::new(settings.logins_per_minute, Duration::from_secs(60)),
            login_subnets: Bucket::new(
                settings.logins_per_minute_per_subnet,
                Duration::from_secs(60),
            ),
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

    #[test]
    fn a_bucket_allows_its_rate_then_refuses_until_it_refills() {
        let bucket = Bucket::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            bucket.take_at("a", t0).unwrap();
        }
        match bucket.take_at("a", t0) {
            Err(AppError::RateLimited { retry_after_s }) => assert_eq!(retry_after_s, 20),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another key has its own bucket.
        bucket.take_at("b", t0).unwrap();
        // One token is back after 20 s, not before.
        assert!(bucket.take_at("a", t0 + Duration::from_secs(19)).is_err());
        bucket.take_at("a", t0 + Duration::from_secs(40)).unwrap();
    }
}
