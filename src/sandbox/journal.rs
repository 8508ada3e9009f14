//! The sandbox's state file: a SQLite database holding every object as JSON,
//! written change by change, so what the sandbox has answered survives the
//! process however it ends (SIGKILL included), as a real provider's records do.
//!
//! Requests change the in-memory [`Store`] under its lock, hand their changes to
//! [`Journal::submit`] (still under the lock, so change sets arrive in the order
//! they happened) and wait for [`Journal::durable`] before they answer. One writer
//! thread commits whatever has arrived in one transaction (group commit): under
//! load, one fsync covers many requests. Webhooks for events a change emitted are
//! sent only once that change is committed, so no receiver hears of something a
//! crash could take back; each is a row of the file until it is acknowledged (or
//! given up), so one a crash interrupted is sent again after the restart, as a
//! real provider keeps retrying its webhooks.
//!
//! A state file of the JSON format the sandbox used before (one whole snapshot)
//! is taken over on first start: its objects are written into the database and
//! the JSON is kept beside it as `….migrated`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::sqlite::SqliteConnection;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use super::events::{Delivery, Finished};
use super::store::{Changes, Meta, Store};

/// The state file's format, in SQLite's `user_version`. Format 2 adds the
/// endpoint a pending delivery is for (format 1 files gain the column).
const FORMAT_VERSION: i32 = 2;
/// Most change sets one transaction takes: bounds a commit's size under a burst.
const GROUP_MAX: usize = 1024;
/// The wait before writing again after the file refused a commit (disk full,
/// I/O error); requests wait with their changes rather than answer unrecorded.
const RETRY_WAIT: Duration = Duration::from_millis(500);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS objects (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS meta (
        name TEXT PRIMARY KEY NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        endpoint TEXT
    );
";

/// One request's changes and the webhooks its events send once they are durable.
struct Batch {
    number: u64,
    changes: Changes,
    deliveries: Vec<Delivery>,
}

/// What the writer is told.
enum Message {
    Changes(Batch),
    /// A delivery's row, once it is acknowledged or given up.
    Delivered(i64),
    /// Commit what has arrived and end.
    Close,
}

/// The writer thread's side of a running journal.
pub struct Journal {
    /// Taken by [`Journal::close`].
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    /// The number of the last change set handed to the writer.
    submitted: AtomicU64,
    /// The number of the last change set committed.
    durable: watch::Receiver<u64>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Journal {
    /// Starts the writer on `connection` (from [`open`]), which sends each
    /// committed change set's webhooks to `deliveries`.
    pub fn start(connection: SqliteConnection, deliveries: UnboundedSender<Delivery>) -> Journal {
        let (sender, receiver) = mpsc::channel();
        let (durable_tx, durable) = watch::channel(0);
        let writer = std::thread::Builder::new()
            .name("sandbox-journal".into())
            .spawn(move || write_forever(connection, &receiver, &durable_tx, &deliveries))
            .expect("the sandbox's journal thread starts");
        Journal {
            sender: Mutex::new(Some(sender)),
            submitted: AtomicU64::new(0),
            durable,
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Hands one request's changes to the writer; call it under the store's
    /// lock. Returns the number to wait for before answering (the last change
    /// set's when there is nothing new: what the request saw must be durable too).
    pub fn submit(&self, changes: Changes, deliveries: Vec<Delivery>) -> u64 {
        if changes.is_empty() && deliveries.is_empty() {
            return self.submitted.load(Ordering::SeqCst);
        }
        let number = self.submitted.fetch_add(1, Ordering::SeqCst) + 1;
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = sender.as_ref() {
            // The writer lives until `close`, which runs after the last request.
            let _ = sender.send(Message::Changes(Batch {
                number,
                changes,
                deliveries,
            }));
        }
        number
    }

    /// What the delivery task calls when a delivery is finished: its row goes.
    pub fn finished(&self) -> Option<Finished> {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let sender = Mutex::new(sender.as_ref()?.clone());
        Some(std::sync::Arc::new(move |row| {
            let sender = sender.lock().unwrap_or_else(|e| e.into_inner());
            // After `close` the row stays: the delivery is sent again next start.
            let _ = sender.send(Message::Delivered(row));
        }))
    }

    /// Waits until change set `number` (and every one before it) is committed.
    pub async fn durable(&self, number: u64) {
        let mut durable = self.durable.clone();
        // An error means the writer ended: only after the last request.
        let _ = durable.wait_for(|committed| *committed >= number).await;
    }

    /// Lets the writer commit what it holds and end; waits for it.
    pub fn close(&self) {
        if let Some(sender) = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = sender.send(Message::Close);
        }
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

fn write_forever(
    mut connection: SqliteConnection,
    receiver: &mpsc::Receiver<Message>,
    durable: &watch::Sender<u64>,
    deliveries: &UnboundedSender<Delivery>,
) {
    let mut closing = false;
    while !closing {
        let Ok(first) = receiver.recv() else { return };
        let (mut group, mut delivered) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Changes(batch) => group.push(batch),
                Message::Delivered(row) => delivered.push(row),
                Message::Close => closing = true,
            }
            next = if closing || group.len() >= GROUP_MAX {
                None
            } else {
                receiver.try_recv().ok()
            };
        }
        while let Err(e) = commit(&mut connection, &mut group, &delivered) {
            if e.to_string().contains("locked") {
                tracing::warn!("sandbox: its state file is held (a backup copying it); waiting");
            } else {
                tracing::error!(error = %e, "sandbox: cannot write its state file; retrying");
            }
            std::thread::sleep(RETRY_WAIT);
        }
        let Some(last) = group.last().map(|b| b.number) else {
            continue;
        };
        for batch in group {
            for delivery in batch.deliveries {
                // The receiver lives as long as the sandbox.
                let _ = deliveries.send(delivery);
            }
        }
        durable.send_replace(last);
    }
}

/// Writes a group of change sets in one transaction (of an object changed by
/// several, the last one's version), a row for each of their deliveries, and
/// removes the rows of finished deliveries.
fn commit(
    connection: &mut SqliteConnection,
    group: &mut [Batch],
    delivered: &[i64],
) -> QueryResult<()> {
    connection.immediate_transaction(|c| {
        let mut rows: BTreeMap<(&str, &str), Option<&str>> = BTreeMap::new();
        let mut meta = None;
        for batch in group.iter() {
            for (kind, changed) in &batch.changes.tables {
                for (id, json) in changed {
                    rows.insert((kind, id), json.as_deref());
                }
            }
            meta = batch.changes.meta.as_ref().or(meta);
        }
        write_rows(c, &rows, meta)?;
        for row in delivered {
            diesel::sql_query("DELETE FROM deliveries WHERE id = ?")
                .bind::<BigInt, _>(row)
                .execute(c)?;
        }
        for delivery in group.iter_mut().flat_map(|b| b.deliveries.iter_mut()) {
            let row = diesel::sql_query(
                "INSERT INTO deliveries (event_id, url, secret, endpoint) VALUES (?, ?, ?, ?) \
                 RETURNING id",
            )
            .bind::<Text, _>(&delivery.event_id)
            .bind::<Text, _>(&delivery.url)
            .bind::<Text, _>(&delivery.secret)
            .bind::<Nullable<Text>, _>(&delivery.endpoint)
            .get_result::<RowId>(c)?;
            delivery.pending = Some(row.id);
        }
        Ok(())
    })
}

#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn write_rows(
    c: &mut SqliteConnection,
    rows: &BTreeMap<(&str, &str), Option<&str>>,
    meta: Option<&Meta>,
) -> QueryResult<()> {
    for ((kind, id), json) in rows {
        match json {
            Some(body) => diesel::sql_query(
                "INSERT INTO objects (kind, id, body) VALUES (?, ?, ?) \
                 ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
            )
            .bind::<Text, _>(*kind)
            .bind::<Text, _>(*id)
            .bind::<Text, _>(*body)
            .execute(c)?,
            None => diesel::sql_query("DELETE FROM objects WHERE kind = ? AND id = ?")
                .bind::<Text, _>(*kind)
                .bind::<Text, _>(*id)
                .execute(c)?,
        };
    }
    if let Some(meta) = meta {
        let body = serde_json::to_string(meta)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::sql_query(
            "INSERT INTO meta (name, body) VALUES ('store', ?) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
        )
        .bind::<Text, _>(body)
        .execute(c)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct ObjectRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    body: String,
}

#[derive(QueryableByName)]
struct MetaRow {
    #[diesel(sql_type = Text)]
    body: String,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    user_version: i32,
}

/// Opens (or creates) the state file at `path`, taking over a JSON state file
/// of the earlier format first; returns the connection and the state it holds
/// (`None` for a new file).
pub fn open(path: &Path) -> std::io::Result<(SqliteConnection, Option<Store>)> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    if let Some(json) = json_to_take_over(path)? {
        take_over_json(&json, path)?;
    }
    let mut connection = connect(path)?;
    let version = diesel::sql_query("PRAGMA user_version")
        .get_result::<Version>(&mut connection)
        .map_err(|e| unreadable(path, &e))?
        .user_version;
    if version > FORMAT_VERSION {
        return Err(std::io::Error::other(format!(
            "the sandbox's state {} was written by a newer bazaar (format {version}; this one reads {FORMAT_VERSION})",
            path.display()
        )));
    }
    let upgrade = if version == 1 {
        "ALTER TABLE deliveries ADD COLUMN endpoint TEXT;"
    } else {
        ""
    };
    connection
        .immediate_transaction(|c| {
            c.batch_execute(&format!(
                "{SCHEMA} {upgrade} PRAGMA user_version = {FORMAT_VERSION};"
            ))
        })
        .map_err(|e| unreadable(path, &e))?;
    let store = read(&mut connection).map_err(|e| unreadable(path, &e))?;
    Ok((connection, store))
}

fn connect(path: &Path) -> std::io::Result<SqliteConnection> {
    let name = path
        .to_str()
        .ok_or_else(|| std::io::Error::other("the sandbox's state file path is not UTF-8"))?;
    let mut connection = SqliteConnection::establish(name).map_err(|e| unreadable(path, &e))?;
    // FULL: a commit is on disk, not only in the operating system's cache,
    // before the answer it records is sent; the group commit pays for it.
    connection
        .batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;",
        )
        .map_err(|e| unreadable(path, &e))?;
    Ok(connection)
}

fn unreadable(path: &Path, e: &dyn std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!(
        "the sandbox's state {} cannot be used: {e}",
        path.display()
    ))
}

/// Reads every object; `None` when the file holds no state yet.
fn read(connection: &mut SqliteConnection) -> Result<Option<Store>, Box<dyn std::error::Error>> {
    let Some(meta) = diesel::sql_query("SELECT body FROM meta WHERE name = 'store'")
        .get_result::<MetaRow>(connection)
        .optional()?
    else {
        return Ok(None);
    };
    let mut store = Store::default();
    store.restore_meta(serde_json::from_str(&meta.body)?);
    let rows =
        diesel::sql_query("SELECT kind, id, body FROM objects").load::<ObjectRow>(connection)?;
    let mut tables = store.tables_mut();
    for row in rows {
        let Some((_, table)) = tables.iter_mut().find(|(kind, _)| *kind == row.kind) else {
            return Err(format!("an object of unknown kind {:?} ({})", row.kind, row.id).into());
        };
        table
            .load(row.id.clone(), &row.body)
            .map_err(|e| format!("{} {}: {e}", row.kind, row.id))?;
    }
    Ok(Some(store))
}

/// Writes the whole of `store` (a new file, or one taken over) at once.
pub fn write_whole(connection: &mut SqliteConnection, store: &mut Store) -> std::io::Result<()> {
    store.mark_all();
    write_changes(connection, store)
}

/// Writes what changed in `store` since the last take, at once (an owner
/// adopted at start).
pub fn write_changes(connection: &mut SqliteConnection, store: &mut Store) -> std::io::Result<()> {
    let changes = store.take_changes().map_err(std::io::Error::other)?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut batch = Batch {
        number: 0,
        changes,
        deliveries: Vec::new(),
    };
    commit(connection, std::slice::from_mut(&mut batch), &[]).map_err(std::io::Error::other)
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    endpoint: Option<String>,
}

/// The deliveries a crash or a stop interrupted, to send again. Each goes to
/// its endpoint as it is configured now (a restored marketplace may listen
/// elsewhere, with other secrets), as a provider retries to an endpoint's
/// current URL; rows whose event is no longer kept, or whose endpoint is gone,
/// are removed. Call it after the store's configured endpoints are set.
pub fn pending_deliveries(
    connection: &mut SqliteConnection,
    store: &Store,
) -> std::io::Result<Vec<Delivery>> {
    let rows =
        diesel::sql_query("SELECT id, event_id, url, secret, endpoint FROM deliveries ORDER BY id")
            .load::<PendingRow>(connection)
            .map_err(std::io::Error::other)?;
    let mut pending = Vec::new();
    for row in rows {
        let target = match &row.endpoint {
            // A format 1 row knows only where it was going.
            None => Some((row.url, row.secret)),
            Some(id) => store
                .endpoint(id)
                .map(|e| (e.url.clone(), e.secret.clone())),
        };
        match (store.events.get(&row.event_id), target) {
            (Some(event), Some((url, secret))) => pending.push(Delivery {
                url,
                secret,
                endpoint: row.endpoint,
                event_id: row.event_id,
                body: std::sync::Arc::new(event.body.to_string()),
                pending: Some(row.id),
            }),
            _ => {
                diesel::sql_query("DELETE FROM deliveries WHERE id = ?")
                    .bind::<BigInt, _>(row.id)
                    .execute(connection)
                    .map_err(std::io::Error::other)?;
            }
        }
    }
    Ok(pending)
}

/// The JSON state file of the earlier format to take over: the state file
/// itself when it holds JSON, or `sandbox.json` beside a state file that does
/// not exist yet (the default file's earlier name).
fn json_to_take_over(path: &Path) -> std::io::Result<Option<PathBuf>> {
    if path.exists() {
        let mut start = [0u8; 1];
        let mut file = std::fs::File::open(path)?;
        let read = std::io::Read::read(&mut file, &mut start)?;
        return Ok((read == 1 && start[0] == b'{').then(|| path.to_path_buf()));
    }
    let beside = path.with_file_name("sandbox.json");
    Ok((beside != path && beside.is_file()).then_some(beside))
}

/// Writes the JSON file's state into a new database at `path`, keeping the
/// JSON as `….migrated`. A crash at any step leaves either the JSON to take
/// over again or the finished database.
fn take_over_json(json: &Path, path: &Path) -> std::io::Result<()> {
    let mut store = Store::load_json(json)?;
    let mut kept = json.as_os_str().to_owned();
    kept.push(".migrated");
    std::fs::copy(json, PathBuf::from(kept))?;
    let mut building = path.as_os_str().to_owned();
    building.push(".building");
    let building = PathBuf::from(building);
    remove_database(&building)?;
    {
        let mut connection = connect(&building)?;
        connection
            .batch_execute(&format!("{SCHEMA} PRAGMA user_version = {FORMAT_VERSION};"))
            .map_err(|e| unreadable(&building, &e))?;
        write_whole(&mut connection, &mut store)?;
        // One file to rename: the write-ahead log folded in and removed.
        connection
            .batch_execute("PRAGMA journal_mode = DELETE;")
            .map_err(|e| unreadable(&building, &e))?;
    }
    std::fs::rename(&building, path)?;
    if json != path {
        std::fs::remove_file(json)?;
    }
    tracing::info!(from = %json.display(), to = %path.display(), "sandbox: state file taken over");
    Ok(())
}

/// The state file held still for a backup: while it lives no change is
/// committed, so the sandbox's requests wait (they answer only once their
/// change is durable) and a copy taken meanwhile holds exactly what the sandbox
/// had confirmed. Dropping it lets the writer go on.
pub struct Frozen {
    path: PathBuf,
    _writer_lock: SqliteConnection,
}

/// Takes the state file's write lock, waiting for a commit under way.
///
/// # Errors
/// The file does not exist or cannot be locked.
pub fn freeze(path: &Path) -> std::io::Result<Frozen> {
    if !path.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the sandbox's state {} does not exist", path.display()),
        ));
    }
    let mut connection = connect(path)?;
    connection
        .batch_execute("BEGIN IMMEDIATE")
        .map_err(|e| unreadable(path, &e))?;
    Ok(Frozen {
        path: path.to_owned(),
        _writer_lock: connection,
    })
}

impl Frozen {
    /// Writes the state as it stands into the new file `to` (its write-ahead
    /// log folded in).
    ///
    /// # Errors
    /// The state cannot be read or `to` written.
    pub fn copy_into(&self, to: &Path) -> std::io::Result<()> {
        let target = to
            .to_str()
            .ok_or_else(|| std::io::Error::other("the backup's path is not UTF-8"))?;
        let mut reader = connect(&self.path)?;
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(target)
            .execute(&mut reader)
            .map_err(|e| unreadable(&self.path, &e))?;
        Ok(())
    }
}

/// A SQLite file with its write-ahead log and shared memory.
pub fn database_files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// Every file the sandbox's state at `path` may be in: the database's, and a
/// JSON file of the earlier format that the next start would take over.
pub fn state_files(path: &Path) -> Vec<PathBuf> {
    let mut files = database_files(path);
    files.push(path.with_file_name("sandbox.json"));
    files
}

fn remove_database(path: &Path) -> std::io::Result<()> {
    for file in database_files(path) {
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
