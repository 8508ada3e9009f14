//! The feed shows events in the order their transactions commit: a reader
//! paging by `after` while writers overlap never skips one.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bazaar::events::feed::{self, Audience, FeedQuery};
use bazaar::events::outbox::{emit, NewEvent};
use bazaar::events::types::{EventType, TypeFilter};
use common::people::pool;
use common::TestApp;
use serde_json::json;

/// Writers whose transactions take a while to commit after their event is
/// written, started a few milliseconds apart so that they overlap; a reader
/// pages through the feed the whole time. Every event is read exactly once,
/// in sequence order. Were sequence numbers taken in any order but the
/// commits', the reader would see a later number before an earlier one
/// commits, move past it, and never read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_paging_while_writers_overlap_reads_every_event_once() {
    let app = TestApp::spawn().await;
    let pool = pool(&app);
    const WRITERS: usize = 6;
    const EACH: usize = 5;
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (pool, done) = (pool.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut conn = pool.get().unwrap();
            let mut after = 0;
            let mut read = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = feed::read(
                    &mut conn,
                    &Audience::Platform,
                    &FeedQuery {
                        after,
                        types: TypeFilter::default(),
                        limit: 100,
                    },
                )
                .unwrap();
                for event in page.data {
                    assert!(event.seq > after, "in order");
                    after = event.seq;
                    read.push(event.id);
                }
                if finished && !page.has_more {
                    return read;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut written = Vec::new();
                for n in 0..EACH {
                    std::thread::sleep(Duration::from_millis(3 * w as u64));
                    let mut conn = pool.get().unwrap();
                    let id = bazaar::db::write_transaction(&mut conn, |conn| {
                        let id = emit(
                            conn,
                            NewEvent::new(EventType::ProductUpdated, json!({"writer": w, "n": n})),
                        )?;
                        // The transaction lingers after its event is written.
                        bazaar::db::before_commit(Box::new(|_| {
                            std::thread::sleep(Duration::from_millis(40));
                            Ok(())
                        }))
                        .map_err(|_| bazaar::error::AppError::Internal(anyhow::anyhow!("queue")))?;
                        Ok::<_, bazaar::error::AppError>(id)
                    })
                    .unwrap();
                    written.push(id);
                }
                written
            })
        })
        .collect();
    let mut written: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    let mut read = reader.join().unwrap();
    assert_eq!(read.len(), WRITERS * EACH, "every event read once");
    read.sort();
    written.sort();
    assert_eq!(read, written);
}

#[tokio::test]
async fn an_event_emitted_outside_a_write_transaction_is_refused() {
    let app = TestApp::spawn().await;
    let pool = pool(&app);
    let mut conn = pool.get().unwrap();
    let refused = emit(
        &mut conn,
        NewEvent::new(EventType::ProductUpdated, json!({})),
    );
    assert!(refused.is_err());
    let page = feed::read(
        &mut conn,
        &Audience::Platform,
        &FeedQuery {
            after: 0,
            types: TypeFilter::default(),
            limit: 10,
        },
    )
    .unwrap();
    assert!(page.data.is_empty());
}
