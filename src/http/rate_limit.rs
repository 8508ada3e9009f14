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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
