//! A local, stateful, Stripe-compatible provider: the HTTP API our provider client (and
//! Stripe's own libraries) talk to, and signed webhooks it sends back.
//!
//! It is the judge of our provider client, so it shares no code with the marketplace:
//! nothing here uses `crate::` outside `crate::sandbox`. Amounts are `i64` minor units and
//! currencies lowercase ISO codes, as Stripe sends them.
//!
//! Layout: `form` decodes request bodies, `wire` holds errors/params/auth, `store` the
//! state, clock and ids, `journal` the state file it is committed to; `accounts`,
//! `payments`, `refunds`, `disputes`, `transfers`, `balances` the domain;
//! `events` building, signing and delivering webhooks; `expand` which `expand[]` paths
//! each object takes and expanding them; `routes` the HTTP surface.
//!
//! Decisions worth knowing:
//! - Time is the wall clock plus an offset that `POST /v1/test_helpers/advance_clock`
//!   grows; everything due (funds becoming available, scheduled payouts, payout
//!   arrivals) runs in time order at the start of every request.
//! - Webhook signatures use the wall clock at sending (as Stripe does), while `created`
//!   fields use sandbox time, so receivers' 300 s tolerance holds after advancing.
//! - Only successful and `402` (card declined) answers are remembered under an
//!   `Idempotency-Key`; other errors change nothing and are not remembered.
//! - With a state file, a change is committed to it before its answer (or any
//!   webhook about it) leaves, and a webhook not yet acknowledged is sent again
//!   after a restart: see `journal`. Without one, deliveries in flight end with
//!   the process.

pub mod accounts;
pub mod balances;
pub mod disputes;
pub mod events;
pub mod expand;
pub mod form;
pub mod journal;
pub mod onboarding;
pub mod payments;
pub mod pricing;
pub mod refunds;
pub mod routes;
pub mod store;
pub mod transfers;
pub mod wire;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use events::{deliver_forever, Delivery, DeliveryPolicy};
use journal::Journal;
use store::{Endpoint, Store, Timing};

/// The API version the sandbox renders objects in (async-stripe 1.0.0-rc.10's pin).
pub const API_VERSION: &str = "2026-09-30.endive";

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Requests must send `Authorization: Bearer <this>` (or HTTP Basic with it as user).
    pub secret_key: String,
    /// Seconds from a charge to its funds becoming available.
    pub funds_delay_s: i64,
    /// Seconds between automatic payouts of connected accounts.
    pub payout_interval_s: i64,
    /// Seconds from a payout's creation to its arrival (paid or failed).
    pub payout_transit_s: i64,
    /// Base URL account links point at; the bound address when `None`.
    pub public_url: Option<String>,
    /// Endpoints that receive every event (platform or connect, by `connect`).
    pub webhook_endpoints: Vec<WebhookEndpointConfig>,
    /// Faults injected into webhook delivery.
    pub faults: Faults,
    /// Attempts per delivery, the first included.
    pub delivery_attempts_max: u32,
    /// Wait before the first retry; doubles after each, jittered.
    pub delivery_backoff_ms: u64,
    /// When set: a SQLite file loaded on start if present, and every change
    /// committed to it before its answer is sent (see `journal`).
    pub state_file: Option<PathBuf>,
    /// PEM certificates that HTTPS webhook endpoints may present (a local
    /// receiver's self-signed one); public roots are not trusted.
    pub webhook_root_certificates_pem: Vec<Vec<u8>>,
    /// The marketplace database (its instance id) the state file is for: a
    /// state file another database wrote is refused, not mixed into this one's books.
    pub owner: Option<String>,
}

/// A webhook endpoint given in the configuration.
#[derive(Debug, Clone)]
pub struct WebhookEndpointConfig {
    /// Where events are POSTed.
    pub url: String,
    /// The `whsec_…` secret deliveries are signed with.
    pub secret: String,
    /// `true` for connected accounts' events, `false` for the platform's.
    pub connect: bool,
}

/// Webhook delivery faults, for testing receivers.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Deliver every event twice.
    pub duplicate: bool,
    /// Deliver each burst of pending events in random order.
    pub shuffle: bool,
    /// Wait this long before each delivery attempt.
    pub delay_ms: u64,
    /// Treat the first attempt of every delivery as failed without sending it.
    pub drop_first: bool,
    /// Hold each delivery (each copy) a random 0..=`jitter_ms`, concurrently,
    /// so some events arrive after later ones.
    pub jitter_ms: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            secret_key: "sk_test_sandbox".into(),
            funds_delay_s: 172_800,
            payout_interval_s: 86_400,
            payout_transit_s: 86_400,
            public_url: None,
            webhook_endpoints: Vec::new(),
            faults: Faults::default(),
            delivery_attempts_max: 8,
            delivery_backoff_ms: 200,
            state_file: None,
            webhook_root_certificates_pem: Vec::new(),
            owner: None,
        }
    }
}

/// What request handlers share.
pub struct Shared {
    /// All state, behind one lock.
    pub store: Mutex<Store>,
    /// Where deliveries go.
    pub deliveries: UnboundedSender<Delivery>,
    /// The configuration.
    pub config: SandboxConfig,
    /// The base URL for account links.
    pub public_url: String,
    /// Makes changes durable (only with a state file).
    journal: Option<Journal>,
    /// Held while this sandbox may write its state file: a second process
    /// on the same file would overwrite the first one's money facts.
    /// Released by [`Sandbox::stop`] after the last commit (or with the process).
    state_lock: std::sync::Mutex<Option<std::fs::File>>,
}

impl Shared {
    /// Hands a request's changes and webhooks on, under the store's lock:
    /// to the journal, which commits them before the webhooks go, or straight
    /// to delivery without a state file. Returns the journal's number to wait
    /// for before answering.
    fn hand_on(&self, store: &mut Store) -> Option<u64> {
        let deliveries = store.take_deliveries();
        let Some(journal) = &self.journal else {
            store.forget_changes();
            for delivery in deliveries {
                // The receiver lives as long as the sandbox; a send can only fail while stopping.
                let _ = self.deliveries.send(delivery);
            }
            return None;
        };
        match store.take_changes() {
            Ok(changes) => Some(journal.submit(changes, deliveries)),
            Err(e) => {
                // Every object serializes; this would be a bug, not a state to answer from.
                tracing::error!(error = %e, "sandbox: a change cannot be written");
                Some(journal.submit(Default::default(), deliveries))
            }
        }
    }

    /// Waits until what a request changed or saw is in the state file.
    async fn durable(&self, number: Option<u64>) {
        if let (Some(journal), Some(number)) = (&self.journal, number) {
            journal.durable(number).await;
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    base_url: String,
    shared: Arc<Shared>,
    server: ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    delivery_task: JoinHandle<()>,
}

/// Takes the state file's lock (`{state file}.lock`, beside it) for this
/// process, or says which file another process holds: a `bazaar reconcile` or
/// `demo` beside a running embedded `serve` would otherwise start a second
/// sandbox on the same state, and the last to save would erase the other's
/// charges and transfers. The lock ends with the process, however it ends.
fn lock_state(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    #[cfg(unix)]
    // SAFETY: flock only takes a lock on a descriptor this function owns.
    let taken = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    #[cfg(not(unix))]
    let taken = 0;
    if taken != 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::WouldBlock {
            return Err(std::io::Error::other(format!(
                "the sandbox's state {} is in use by another bazaar process (a running `serve` or \
                 `demo`): stop it first, or ask that server (POST /v1/reconciliation/reports \
                 reconciles through it)",
                path.display()
            )));
        }
        return Err(error);
    }
    Ok(file)
}

impl Sandbox {
    /// Starts the HTTP server on `listener` (one worker) and the webhook delivery task,
    /// on the current tokio runtime.
    pub async fn start(config: SandboxConfig, listener: TcpListener) -> std::io::Result<Sandbox> {
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| base_url.clone())
            .trim_end_matches('/')
            .to_owned();
        let state_lock = config.state_file.as_deref().map(lock_state).transpose()?;
        let (mut connection, loaded) = match &config.state_file {
            Some(path) => {
                let (connection, loaded) = journal::open(path)?;
                (Some(connection), loaded)
            }
            None => (None, None),
        };
        let new_file = loaded.is_none();
        let mut store = loaded.unwrap_or_else(Store::fresh);
        match (&store.owner, &config.owner) {
            (Some(owner), Some(ours)) if owner != ours => {
                let path = config.state_file.as_deref().unwrap_or(Path::new("?"));
                return Err(std::io::Error::other(format!(
                    "the sandbox's state {} belongs to another marketplace database (instance \
                     {owner}; this one is {ours}): its charges and transfers are not this \
                     database's. Give this database its own state file (sandbox.state_file, \
                     e.g. BAZAAR__SANDBOX__STATE_FILE=data/sandbox-postgres.db), or start \
                     the embedded demo over with `bazaar demo --fresh`",
                    path.display()
                )));
            }
            (None, Some(ours)) => store.owner = Some(ours.clone()),
            _ => {}
        }
        store.timing = Timing {
            funds_delay_s: config.funds_delay_s,
            payout_interval_s: config.payout_interval_s,
            payout_transit_s: config.payout_transit_s,
        };
        store.config_endpoints = config
            .webhook_endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Endpoint {
                id: format!("we_config_{i}"),
                seq: 0,
                created: 0,
                url: e.url.clone(),
                secret: e.secret.clone(),
                connect: e.connect,
                enabled_events: vec!["*".into()],
                description: None,
                metadata: Default::default(),
            })
            .collect();
        let mut interrupted = Vec::new();
        if let Some(connection) = connection.as_mut() {
            if new_file {
                journal::write_whole(connection, &mut store)?;
            } else {
                journal::write_changes(connection, &mut store)?;
            }
            interrupted = journal::pending_deliveries(connection, &store)?;
        }
        store.now = store.clock();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let policy = DeliveryPolicy {
            faults: config.faults.clone(),
            attempts_max: config.delivery_attempts_max.max(1),
            backoff_ms: config.delivery_backoff_ms,
            root_certificates_pem: config.webhook_root_certificates_pem.clone(),
        };
        let journal = connection.map(|c| Journal::start(c, tx.clone()));
        let finished = journal.as_ref().and_then(Journal::finished);
        let delivery_task = tokio::spawn(deliver_forever(rx, policy, finished));
        if !interrupted.is_empty() {
            tracing::info!(
                count = interrupted.len(),
                "sandbox: sending again the webhooks a stop interrupted"
            );
        }
        for delivery in interrupted {
            // The receiver is the task just started.
            let _ = tx.send(delivery);
        }
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            deliveries: tx,
            config,
            public_url,
            journal,
            state_lock: std::sync::Mutex::new(state_lock),
        });
        let data = actix_web::web::Data::from(Arc::clone(&shared));
        listener.set_nonblocking(true)?;
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(actix_web::web::PayloadConfig::new(form::FORM_BYTES_MAX))
                .configure(routes::configure)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        Ok(Sandbox {
            base_url,
            shared,
            server: handle,
            server_task,
            delivery_task,
        })
    }

    /// Reads how far `POST /v1/test_helpers/advance_clock` has moved the
    /// sandbox's clock ahead of the wall clock, in seconds.
    pub fn clock_offset(&self) -> impl Fn() -> i64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || {
            shared
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .offset_s
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The key requests must authenticate with.
    pub fn secret_key(&self) -> &str {
        &self.shared.config.secret_key
    }

    /// The shared state, for embedding (e.g. inspecting the store in tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the server, lets the journal commit what it holds, and stops the
    /// delivery task.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.server_task.await;
        let shared = Arc::clone(&self.shared);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(journal) = &shared.journal {
                journal.close();
            }
        })
        .await;
        self.delivery_task.abort();
        let _ = self.delivery_task.await;
        // Nothing writes the state any more: another sandbox may take it.
        if let Ok(mut lock) = self.shared.state_lock.lock() {
            lock.take();
        }
    }
}
