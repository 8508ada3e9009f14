//! The in-process caches of rendered catalog reads: one product
//! (`GET /v1/products/{id}`) and lists, searches and facets
//! (`GET /v1/products`, `GET /v1/products/facets`).
//!
//! Policy (also in the module doc of [`super`]):
//! - bounded in entries and in bytes: a full cache drops the oldest entry
//!   (every entry lives for the same TTL, so the oldest is also the first to
//!   expire), found in O(1) from a queue in insertion order rather than by
//!   scanning the map under the lock;
//! - short-lived: an entry is served for at most [`CACHE_TTL`], which bounds
//!   how old a stock level shown may be (stock changes are not broadcast);
//! - invalidated by every write: the catalog's write functions in this process
//!   call [`invalidate`] for the product they touch (a product invalidated
//!   empties the listing cache too, since any list may show it; a stock-only
//!   change calls [`invalidate_stock`], which leaves lists to their TTL), and
//!   writes in other processes reach [`invalidate`] and [`invalidate_all`]
//!   through [`super::changes`] within its polling interval;
//! - race-safe: a reader records the generation before it reads the database
//!   and stores its result only if no invalidation happened meanwhile, so a
//!   slow reader cannot put back a value older than a write it raced with.
//!
//! The caches are process-wide rather than per worker, so an invalidation
//! reaches every worker. Product ids are random (`prd_` + UUID), and listing
//! keys start with the database's [`ListingScope`], so servers for different
//! databases in one process (the test suite) cannot collide.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// Most products held at once. Sized for a catalog of about 10,000 products
/// read at random: a rendered product is about 1 KiB, so a full cache holds
/// about 8 MiB; a smaller one misses on most detail reads of such a catalog.
pub const PRODUCT_CACHE_ENTRIES_MAX: usize = 8192;
/// Most bytes of product bodies held at once (a product with long text and
/// ten pictures is near 8 KiB).
pub const PRODUCT_CACHE_BYTES_MAX: usize = 16 << 20;
/// Most lists, searches and facets held at once: the first pages buyers ask
/// for most, and the searches of the moment.
pub const LISTING_CACHE_ENTRIES_MAX: usize = 2048;
/// Most bytes of lists held at once (a page of 100 products is near 100 KiB).
pub const LISTING_CACHE_BYTES_MAX: usize = 32 << 20;
/// Longest time an entry is served; bounds how old a stock level shown is.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

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
    /// Bytes of the entries' keys and bodies.
    bytes: usize,
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
                self.remove(&id);
                return true;
            }
        }
        false
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= entry_bytes(key, &entry.value);
        }
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

fn entry_bytes(key: &str, value: &Rendered) -> usize {
    key.len() + value.body.len() + value.etag.len()
}

/// A bounded, TTL-limited map from a key to its rendered response.
#[derive(Debug)]
pub struct ResponseCache {
    state: Mutex<State>,
    entries_max: usize,
    bytes_max: usize,
    ttl: Duration,
}

/// A ticket taken before reading the database; see [`ResponseCache::put`].
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

impl ResponseCache {
    /// An empty cache with these limits.
    pub fn new(entries_max: usize, bytes_max: usize, ttl: Duration) -> Self {
        assert!(entries_max > 0, "a cache needs room for one entry");
        Self {
            state: Mutex::new(State::default()),
            entries_max,
            bytes_max,
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
        state.remove(id);
        state.compact();
        None
    }

    /// The current generation; take it before reading the database.
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Stores `value` for `id` unless an invalidation happened since `seen`
    /// (or it alone is over the byte bound).
    pub fn put(&self, id: &str, seen: Generation, value: Rendered) {
        let size = entry_bytes(id, &value);
        if size > self.bytes_max {
            return;
        }
        let mut state = self.lock();
        if state.generation != seen.0 {
            return;
        }
        state.remove(id);
        while state.entries.len() >= self.entries_max || state.bytes + size > self.bytes_max {
            assert!(state.evict_oldest(), "a full cache has an oldest entry");
        }
        let stored_at = Instant::now();
        state.entries.insert(
            id.to_owned(),
            Entry {
                value: Arc::new(value),
                stored_at,
            },
        );
        state.bytes += size;
        state.order.push_back((id.to_owned(), stored_at));
        state.compact();
        assert!(state.entries.len() <= self.entries_max && state.bytes <= self.bytes_max);
    }

    /// Drops `id` and makes in-flight reads not store what they read.
    pub fn invalidate(&self, id: &str) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.remove(id);
        state.compact();
    }

    /// Drops every entry and makes in-flight reads not store what they read.
    pub fn invalidate_all(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
        state.order.clear();
        state.bytes = 0;
    }

    /// Bytes held (keys and bodies).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
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

static PRODUCT_CACHE: LazyLock<ResponseCache> = LazyLock::new(|| {
    ResponseCache::new(
        PRODUCT_CACHE_ENTRIES_MAX,
        PRODUCT_CACHE_BYTES_MAX,
        CACHE_TTL,
    )
});
static LISTING_CACHE: LazyLock<ResponseCache> = LazyLock::new(|| {
    ResponseCache::new(
        LISTING_CACHE_ENTRIES_MAX,
        LISTING_CACHE_BYTES_MAX,
        CACHE_TTL,
    )
});

/// The process-wide cache of single products, keyed by product id.
pub fn product_cache() -> &'static ResponseCache {
    &PRODUCT_CACHE
}

/// The process-wide cache of lists, searches and facets, keyed by
/// [`ListingScope`], path and query string.
pub fn listing_cache() -> &'static ResponseCache {
    &LISTING_CACHE
}

/// The start of every listing key of one database (app data): a digest of
/// its URL, so the URL (and any password in it) is not kept twice.
#[derive(Debug, Clone)]
pub struct ListingScope(pub String);

impl ListingScope {
    pub fn of(url: &crate::config::DatabaseUrl) -> Self {
        use secrecy::ExposeSecret;
        use sha2::{Digest, Sha256};
        let text = match url {
            crate::config::DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            crate::config::DatabaseUrl::Postgres(url) => url.expose_secret().to_owned(),
        };
        Self(hex::encode(&Sha256::digest(text.as_bytes())[..8]))
    }
}

/// Drops `product_id` and every list; called by every catalog write and by
/// the change listener.
pub fn invalidate(product_id: &str) {
    PRODUCT_CACHE.invalidate(product_id);
    LISTING_CACHE.invalidate_all();
}

/// Drops `product_id` only: its stock changed. Lists keep showing the old
/// stock until their entries expire, as they do in every other process (stock
/// changes are not announced): checkouts must not empty the listing cache.
pub fn invalidate_stock(product_id: &str) {
    PRODUCT_CACHE.invalidate(product_id);
}

/// Drops everything: a shop changed, or changes may have been missed (the
/// listener reconnected).
pub fn invalidate_all() {
    PRODUCT_CACHE.invalidate_all();
    LISTING_CACHE.invalidate_all();
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
        let cache = ResponseCache::new(3, 1 << 20, Duration::from_secs(60));
        for i in 0..10 {
            cache.put(&format!("p{i}"), cache.generation(), rendered("x"));
            assert!(cache.len() <= 3);
        }
        assert!(cache.get("p9").is_some());
        assert!(cache.get("p0").is_none());
    }

    #[test]
    fn evicts_the_oldest_and_keeps_its_queue_bounded() {
        let cache = ResponseCache::new(3, 1 << 20, Duration::from_secs(60));
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
    fn holds_at_most_its_bytes() {
        // Each entry: a 2-byte key, a 10-byte body and a 12-byte tag.
        let cache = ResponseCache::new(100, 50, Duration::from_secs(60));
        let ten = || Rendered {
            body: Bytes::from_static(b"0123456789"),
            etag: "\"0123456789\"".to_owned(),
        };
        for i in 0..5 {
            cache.put(&format!("k{i}"), cache.generation(), ten());
            assert!(cache.bytes() <= 50, "{}", cache.bytes());
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("k4").is_some() && cache.get("k3").is_some());
        // Replacing an entry does not count it twice.
        cache.put("k4", cache.generation(), ten());
        assert_eq!(cache.bytes(), 48);
        let huge = Rendered {
            body: Bytes::from(vec![b'x'; 64]),
            etag: String::new(),
        };
        cache.put("big", cache.generation(), huge);
        assert!(cache.get("big").is_none(), "larger than the whole cache");
        cache.invalidate_all();
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }

    #[test]
    fn entries_expire() {
        let cache = ResponseCache::new(3, 1 << 20, Duration::from_millis(20));
        cache.put("p", cache.generation(), rendered("x"));
        assert!(cache.get("p").is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get("p").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_stored() {
        let cache = ResponseCache::new(3, 1 << 20, Duration::from_secs(60));
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
