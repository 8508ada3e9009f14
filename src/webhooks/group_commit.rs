//! Group commit of verified deliveries: every event that arrives while one
//! transaction is committing waits for the next, and that one stores them all.
//!
//! A delivery is acknowledged only after its own row (and its job) is
//! committed, exactly as with a transaction per event; what changes is that one
//! commit — one WAL flush on PostgreSQL with `synchronous_commit` on, one write
//! lock on SQLite — is shared by up to [`BATCH_EVENTS_MAX`] deliveries instead
//! of being paid by each, and that ingestion no longer contends with itself for
//! SQLite's single writer. One writer task per process; several processes on
//! one database each have theirs (duplicates are settled by the primary key).

use tokio::sync::{mpsc, oneshot};

use super::{store_events, store_one, Ingested, Source, StoredEvent};
use crate::db::{self, DbPool};
use crate::error::AppError;

/// Most deliveries one transaction stores.
pub const BATCH_EVENTS_MAX: usize = 256;
/// Deliveries waiting for the writer; past this, receiving waits for room
/// (the provider's request is held, not refused: it retries on a timeout).
const QUEUE_EVENTS_MAX: usize = 8192;

struct Pending {
    event: StoredEvent,
    reply: oneshot::Sender<Result<Ingested, AppError>>,
}

/// The handle request handlers hand their deliveries to.
#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Pending>,
}

impl IngestQueue {
    /// Starts the writer on the current runtime; it stops when the last
    /// handle is dropped.
    pub fn start(pool: DbPool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_EVENTS_MAX);
        tokio::spawn(writer(pool, receiver));
        Self { sender }
    }

    /// Decodes a verified delivery and waits until it is stored (or found
    /// stored before).
    ///
    /// # Errors
    /// 400 `invalid_event` / `wrong_endpoint` for a body that is not an event
    /// for this endpoint (nothing stored); a database failure (nothing stored:
    /// the provider retries).
    pub async fn ingest(&self, source: Source, payload: &[u8]) -> Result<Ingested, AppError> {
        let event = StoredEvent::decode(source, payload)?;
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { event, reply })
            .await
            .map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }
}

fn stopping() -> AppError {
    AppError::Unavailable {
        message: "the server is stopping; the event was not stored".into(),
    }
}

async fn writer(pool: DbPool, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH_EVENTS_MAX);
    while receiver.recv_many(&mut batch, BATCH_EVENTS_MAX).await > 0 {
        let (events, replies): (Vec<StoredEvent>, Vec<_>) =
            batch.drain(..).map(|p| (p.event, p.reply)).unzip();
        let stored = db::run(&pool, move |conn| {
            let together = db::write_transaction(conn, |conn| store_events(conn, &events));
            Ok(match together {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                // One bad row must not fail its neighbours: each alone, with its own answer.
                Err(error) => {
                    tracing::warn!(%error, events = events.len(), "batch of events failed; storing each alone");
                    events
                        .iter()
                        .map(|event| store_one(conn, event))
                        .collect::<Vec<_>>()
                }
            })
        })
        .await;
        match stored {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The requester may have gone (client timeout): its event is stored anyway.
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                // No connection at all: nothing was stored, every requester is told.
                tracing::warn!(%error, "no connection to store events");
                for reply in replies {
                    let _ = reply.send(Err(AppError::Unavailable {
                        message: format!("the event was not stored: {error}"),
                    }));
                }
            }
        }
    }
}
