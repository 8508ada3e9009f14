//! The in-process cache of rendered product reads (`GET /v1/products/{id}`).
//!
//! Policy (also in the module doc of [`super`]):
//! - bounded: at most [`PRODUCT_CACHE_ENTRIES_MAX`] entries; a full cache drops
//!   the oldest entry (every entry lives for the same TTL, so the oldest is
//!   also the first to expire), found in O(1) from a queue in insertion order
//!   rather than by scanning the map under the lock;
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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// Most products held at once. Sized for a catalog of about 10,000 products
/// read at random: a rendered product is about 1 KiB, so a full cache holds
/// about 8 MiB; a smaller one misses on most detail reads of such a catalog.
pub const PRODUCT_CACHE_ENTRIES_MAX: usize = 8192;
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
    /// Every `put` in order, oldest first: the eviction order. A record whose
    /// entry was since replaced or removed is stale and skipped; the queue is
    /// compacted when stale records outnumber live entries.
    order: VecDeque<(String, Instant)>,
    /// Bumped by every invalidation; see the module doc.
    generation: u64,
}

impl State {
    /// Removes the oldest live entry; returns false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((id, stored_at)) = self.order.pop_front() {
            if self
                .entries
                .get(&id)
                .is_some_and(|entry| entry.stored_at == stored_at)
            {
                self.entries.remove(&id);
                return true;
            }
        }
        false
    }

    /// Drops stale records once they are as many as the live entries, so the
    /// queue stays within twice the cache's bound (amortised O(1) per put).
    fn compact(&mut self) {
        if self.order.len() <= 2 * self.entries.len().max(1) {
            return;
        }
        let entries = &self.entries;
        self.order.retain(|(id, stored_at)| {
            entries
                .get(id)
                .is_some_and(|entry| entry.stored_at == *stored_at)
        });
    }
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
        state.compact();
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
        if !state.entries.contains_key(id) {
            while state.entries.len() >= self.entries_max {
                assert!(state.evict_oldest(), "a full cache has an oldest entry");
            }
        }
        let stored_at = Instant::now();
        state.entries.insert(
            id.to_owned(),
            Entry {
                value: Arc::new(value),
                stored_at,
            },
        );
        state.order.push_back((id.to_owned(), stored_at));
        state.compact();
        assert!(state.entries.len() <= self.entries_max);
    }

    /// Drops `id` and makes in-flight reads not store what they read.
    pub fn invalidate(&self, id: &str) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.remove(id);
        state.compact();
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
    fn evicts_the_oldest_and_keeps_its_queue_bounded() {
        let cache = ProductCache::new(3, Duration::from_secs(60));
        for round in 0..100 {
            for id in ["a", "b", "c"] {
                cache.put(id, cache.generation(), rendered(&format!("{id}{round}")));
            }
            cache.invalidate("b");
        }
        assert!(cache.lock().order.len() <= 6);
        cache.put("d", cache.generation(), rendered("d"));
        cache.put("e", cache.generation(), rendered("e"));
        // "b" was invalidated, so room for "e" came from "a", the oldest left.
        assert!(cache.get("a").is_none());
        assert!(cache.get("c").is_some());
        assert_eq!(cache.get("d").unwrap().etag, "\"d\"");
        assert!(cache.get("e").is_some());
        assert_eq!(cache.len(), 3);
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
