//! The in-process cache of rendered product reads (`GET /v1/products/{id}`).
//!
//! Policy (also in the module doc of [`super`]):
//! - bounded: at most [`PRODUCT_CACHE_ENTRIES_MAX`] entries; a full cache first
//!   drops expired entries, then the oldest one;
//! - short-lived: an entry is served for at most [`PRODUCT_CACHE_TTL`], so a
//!   write made by another process sharing the database is seen within it;
//! - invalidated by every write in this process: the catalog's write functions
//!   (update, reserve, release) call [`invalidate`] for the product they touch;
//! - race-safe: a reader records the generation before it reads the database
//!   and stores its result only if no invalidation happened meanwhile, so a
//!   slow reader cannot put back a value older than a write it raced with.
//!
//! The cache is process-wide rather than per worker, so an invalidation reaches
//! every worker. Product ids are random (`prd_` + UUID), so servers for
//! different databases in one process (the test suite) cannot collide.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// Most products held at once.
pub const PRODUCT_CACHE_ENTRIES_MAX: usize = 1024;
/// Longest time an entry is served; bounds staleness across processes.
pub const PRODUCT_CACHE_TTL: Duration = Duration::from_secs(2);

/// A product response as sent: its JSON body and strong ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    pub etag: String,
}

#[derive(Debug)]
struct Entry {
    value: Arc<Rendered>,
    stored_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Bumped by every invalidation; see the module doc.
    generation: u64,
}

/// A bounded, TTL-limited map from product id to its rendered response.
#[derive(Debug)]
pub struct ProductCache {
    state: Mutex<State>,
    entries_max: usize,
    ttl: Duration,
}

/// A ticket taken before reading the database; see [`ProductCache::put`].
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

impl ProductCache {
    /// An empty cache with these limits.
    pub fn new(entries_max: usize, ttl: Duration) -> Self {
        assert!(entries_max > 0, "a cache needs room for one entry");
        Self {
            state: Mutex::new(State::default()),
            entries_max,
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every mutation is a single insert/remove), so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fresh entry for `id`, if any.
    pub fn get(&self, id: &str) -> Option<Arc<Rendered>> {
        let mut state = self.lock();
        let entry = state.entries.get(id)?;
        if entry.stored_at.elapsed() < self.ttl {
            return Some(Arc::clone(&entry.value));
        }
        state.entries.remove(id);
        None
    }

    /// The current generation; take it before reading the database.
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Stores `value` for `id` unless an invalidation happened since `seen`.
    pub fn put(&self, id: &str, seen: Generation, value: Rendered) {
        let mut state = self.lock();
        if state.generation != seen.0 {
            return;
        }
        if state.entries.len() >= self.entries_max && !state.entries.contains_key(id) {
            let ttl = self.ttl;
            state
                .entries
                .retain(|_, entry| entry.stored_at.elapsed() < ttl);
        }
        if state.entries.len() >= self.entries_max && !state.entries.contains_key(id) {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.stored_at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                state.entries.remove(&oldest);
            }
        }
        state.entries.insert(
            id.to_owned(),
            Entry {
                value: Arc::new(value),
                stored_at: Instant::now(),
            },
        );
        assert!(state.entries.len() <= self.entries_max);
    }

    /// Drops `id` and makes in-flight reads not store what they read.
    pub fn invalidate(&self, id: &str) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.remove(id);
    }

    /// How many entries are held (expired ones included until touched).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

static PRODUCT_CACHE: LazyLock<ProductCache> =
    LazyLock::new(|| ProductCache::new(PRODUCT_CACHE_ENTRIES_MAX, PRODUCT_CACHE_TTL));

/// The process-wide product cache.
pub fn product_cache() -> &'static ProductCache {
    &PRODUCT_CACHE
}

/// Drops `product_id` from the process-wide cache; called by every catalog write.
pub fn invalidate(product_id: &str) {
    PRODUCT_CACHE.invalidate(product_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(tag: &str) -> Rendered {
        Rendered {
            body: Bytes::from(tag.to_owned()),
            etag: format!("\"{tag}\""),
        }
    }

    #[test]
    fn holds_at_most_its_bound() {
        let cache = ProductCache::new(3, Duration::from_secs(60));
        for i in 0..10 {
            cache.put(&format!("p{i}"), cache.generation(), rendered("x"));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get("p9").is_some());
        assert!(cache.get("p0").is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = ProductCache::new(3, Duration::from_millis(20));
        cache.put("p", cache.generation(), rendered("x"));
        assert!(cache.get("p").is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get("p").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_stored() {
        let cache = ProductCache::new(3, Duration::from_secs(60));
        let seen = cache.generation();
        cache.invalidate("p");
        cache.put("p", seen, rendered("stale"));
        assert!(cache.get("p").is_none());
        cache.put("p", cache.generation(), rendered("fresh"));
        assert_eq!(cache.get("p").unwrap().etag, "\"fresh\"");
        cache.invalidate("p");
        assert!(cache.get("p").is_none());
    }
}
