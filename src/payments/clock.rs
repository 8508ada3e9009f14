//! The provider's clock, which fulfilment deadlines (ship-by, automatic
//! delivery and release) are judged by: the wall clock against the real
//! provider; the in-process sandbox's clock, which tests and the demo move
//! forward days at a time, against the sandbox.

use std::sync::Arc;

use chrono::NaiveDateTime;

type OffsetReader = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Now, as the provider sees it.
#[derive(Clone, Default)]
pub struct Clock {
    /// Seconds the provider's clock runs ahead of the wall clock.
    offset_s: Option<OffsetReader>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("offset_s", &self.offset_s.as_ref().map(|read| read()))
            .finish()
    }
}

impl Clock {
    /// The wall clock.
    pub fn wall() -> Self {
        Self::default()
    }

    /// The wall clock plus what `offset_s` reads at each call.
    pub fn ahead_by(offset_s: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self {
            offset_s: Some(Arc::new(offset_s)),
        }
    }

    /// The current instant, in the database's resolution.
    pub fn now(&self) -> NaiveDateTime {
        let offset = self.offset_s.as_ref().map_or(0, |read| read());
        crate::db::now() + chrono::Duration::seconds(offset)
    }
}
