//! `bazaar backup` and `bazaar restore`: one file holding the marketplace's
//! database, the embedded sandbox's state and the uploaded pictures, taken
//! while the marketplace serves, and written back into an empty folder or
//! database.
//!
//! The parts must agree with each other as the live system's do: every
//! charge, transfer or payout the database names must be in the provider's
//! state, and every event the provider delivered must be in the database or
//! still queued for delivery. So the sandbox's state file is held still (its
//! write lock taken: the provider's requests wait) while the database's
//! snapshot is taken and the sandbox copied. The provider answers only what it
//! committed and the marketplace acknowledges an event only after storing it,
//! so the pair is what a crash of the marketplace at that instant would leave
//! — which the marketplace recovers from by itself (retries under the same
//! idempotency keys, the sweep, the webhooks still queued). On PostgreSQL only
//! the snapshot's start is held: `pg_dump` then reads that exported snapshot.
//! Pictures are written before their record and deleted a day after nothing
//! uses them, so copying them after the snapshot finds every one it names.
//!
//! The file is a gzip-compressed tar (`tar tzf` lists it): `marketplace.sqlite`
//! or `marketplace.pgdump` (`pg_dump`'s custom format), `sandbox.db`,
//! `media/<key>`, and last `manifest.json` with every member's size and
//! SHA-256, checked before anything is restored.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{DatabaseUrl, ProviderKind, Settings};
use crate::db;
use crate::sandbox::journal;

/// The backup file's format, in its manifest.
pub const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_MEMBER: &str = "marketplace.sqlite";
const POSTGRES_MEMBER: &str = "marketplace.pgdump";
const SANDBOX_MEMBER: &str = "sandbox.db";
const MEDIA_PREFIX: &str = "media/";

/// What a backup holds, written last into it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The bazaar that wrote it.
    pub bazaar_version: String,
    /// The instant of the database's snapshot (RFC 3339, UTC).
    pub taken_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration the database had applied.
    pub schema_version: String,
    /// The marketplace database's instance (the sandbox's state is tied to it).
    pub instance_id: Option<String>,
    /// `sandbox` or `stripe`: with a real provider only the marketplace is here.
    pub provider: String,
    /// How long the provider sandbox was held still.
    pub provider_held_ms: u64,
    /// Every other member, in the archive's order.
    pub members: Vec<Member>,
}

/// One file of the backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub bytes: u64,
    /// Hex SHA-256 of its contents.
    pub sha256: String,
}

impl Manifest {
    /// How many pictures it holds.
    pub fn media_files(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.name.starts_with(MEDIA_PREFIX))
            .count()
    }

    /// Whether it holds the sandbox's state.
    pub fn has_sandbox(&self) -> bool {
        self.members.iter().any(|m| m.name == SANDBOX_MEMBER)
    }
}

/// Writes a backup of the marketplace `settings` describe to `to`, a file that
/// must not exist yet. The file appears only once it is whole (written beside
/// it, synced, then renamed).
///
/// # Errors
/// `to` exists, a part cannot be read (PostgreSQL: `pg_dump` missing or
/// failing), or the file cannot be written.
pub fn backup(settings: &Settings, to: &Path) -> anyhow::Result<Manifest> {
    if to.exists() {
        bail!(
            "{} exists: a backup never replaces a file, give it a new name",
            to.display()
        );
    }
    let work = Scratch::beside(to, "partial.d")?;
    let sandbox = sandbox_state(settings);
    if let Some(path) = &sandbox {
        anyhow::ensure!(
            path.is_file(),
            "the sandbox's state {} does not exist: has this marketplace served yet?",
            path.display()
        );
    }

    // The provider first, so nothing it does is missing from the snapshot.
    let frozen = sandbox.as_deref().map(journal::freeze).transpose()?;
    let held = Instant::now();
    let database = match &settings.database.url {
        DatabaseUrl::Sqlite(path) => {
            let copy = work.path.join(SQLITE_MEMBER);
            vacuum_into(path, &copy, settings.database.busy_timeout)?;
            Snapshot::Sqlite(copy)
        }
        DatabaseUrl::Postgres(url) => {
            Snapshot::Postgres(ExportedSnapshot::take(url.expose_secret())?)
        }
    };
    let taken_at = db::rfc3339(db::now());
    if let Some(frozen) = &frozen {
        frozen.copy_into(&work.path.join(SANDBOX_MEMBER))?;
    }
    drop(frozen);
    let provider_held_ms = u64::try_from(held.elapsed().as_millis()).unwrap_or(u64::MAX);

    let (member, facts) = match database {
        Snapshot::Sqlite(copy) => {
            let mut conn =
                db::DbConnection::Sqlite(diesel::SqliteConnection::establish(utf8(&copy)?)?);
            (SQLITE_MEMBER, facts_of(&mut conn)?)
        }
        Snapshot::Postgres(mut exported) => {
            let facts = facts_of(&mut exported.conn)?;
            let DatabaseUrl::Postgres(url) = &settings.database.url else {
                unreachable!("a PostgreSQL snapshot comes from a PostgreSQL URL")
            };
            pg_dump(
                url.expose_secret(),
                &exported.id,
                &work.path.join(POSTGRES_MEMBER),
            )?;
            drop(exported);
            (POSTGRES_MEMBER, facts)
        }
    };

    let mut sources = vec![(member.to_owned(), work.path.join(member))];
    if sandbox.is_some() {
        sources.push((SANDBOX_MEMBER.to_owned(), work.path.join(SANDBOX_MEMBER)));
    }
    for key in media_keys(&settings.media.dir)? {
        let source = settings.media.dir.join(&key);
        sources.push((format!("{MEDIA_PREFIX}{key}"), source));
    }

    let partial = sibling(to, "partial");
    let written = write_archive(&partial, &sources, |members| Manifest {
        format: FORMAT,
        bazaar_version: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at: taken_at.clone(),
        backend: settings.database.url.backend().to_owned(),
        schema_version: facts.schema_version.clone(),
        instance_id: facts.instance_id.clone(),
        provider: provider_name(settings.provider.kind).to_owned(),
        provider_held_ms,
        members,
    });
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to)
        .with_context(|| format!("cannot move the backup to {}", to.display()))?;
    sync_folder(to);
    Ok(manifest)
}

/// Reads the manifest of the backup `from` after checking every member
/// against it, without restoring anything.
///
/// # Errors
/// The file is not a whole bazaar backup.
pub fn verify(from: &Path) -> anyhow::Result<Manifest> {
    let scratch = Scratch::beside(&std::env::temp_dir().join("bazaar-verify"), "d")?;
    unpack(from, &scratch.path)
}

/// Restores the backup `from` into the database, sandbox state file and
/// pictures folder `settings` name, each of which must be empty or missing.
/// Nothing is written unless the whole backup checks out; a failure midway
/// removes what it wrote.
///
/// # Errors
/// A target is not empty, the backup is damaged, of a newer bazaar, or of the
/// other backend, or a write fails.
pub fn restore(settings: &Settings, from: &Path) -> anyhow::Result<Manifest> {
    let sandbox = sandbox_state(settings);
    if let Some(path) = &sandbox {
        for file in journal::state_files(path) {
            anyhow::ensure!(
                !file.exists(),
                "{} exists: a restore writes only into an empty folder (move it away, or \
                 point sandbox.state_file elsewhere)",
                file.display()
            );
        }
    }
    let media = &settings.media.dir;
    anyhow::ensure!(
        !media.exists() || media.read_dir()?.next().is_none(),
        "the pictures folder {} is not empty: a restore writes only into an empty folder",
        media.display()
    );
    match &settings.database.url {
        DatabaseUrl::Sqlite(path) => {
            for file in journal::database_files(path) {
                anyhow::ensure!(
                    !file.exists(),
                    "{} exists: a restore writes only into an empty folder or database",
                    file.display()
                );
            }
        }
        DatabaseUrl::Postgres(url) => {
            let tables = postgres_tables(url.expose_secret())?;
            anyhow::ensure!(
                tables == 0,
                "the database in database.url has {tables} table(s): a restore writes only \
                 into an empty database (createdb a new one)"
            );
        }
    }

    // Unpacked beside where each part goes, so that putting it in place is a rename.
    let anchor = match &settings.database.url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(_) => media.clone(),
    };
    if let Some(folder) = anchor.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let scratch = Scratch::beside(&anchor, "restoring.d")?;
    let manifest = unpack(from, &scratch.path)?;

    let backend = settings.database.url.backend();
    anyhow::ensure!(
        manifest.backend == backend,
        "this backup is of a {} marketplace and database.url names {backend}: restore it \
         into a {} database",
        manifest.backend,
        manifest.backend
    );
    let newest = newest_migration(backend);
    anyhow::ensure!(
        manifest.schema_version <= newest,
        "this backup was written by bazaar {} with schema {}; this bazaar knows schemas up \
         to {newest}: restore it with that version or a newer one",
        manifest.bazaar_version,
        manifest.schema_version
    );
    match (&sandbox, manifest.has_sandbox()) {
        (None, true) => bail!(
            "this backup holds the provider sandbox's state, but this configuration has no \
             sandbox state file (provider.kind = \"sandbox\" with sandbox.state_file set)"
        ),
        (Some(_), false) => bail!(
            "this backup holds no sandbox state (its provider was {}), but this \
             configuration runs the sandbox: set provider.kind as the backed-up marketplace had it",
            manifest.provider
        ),
        _ => {}
    }

    // Pictures and the sandbox first, the marketplace last: until its
    // database is there, nothing is served from a half restore, and a
    // failure removes what went before.
    let mut placed = Placed::default();
    let result = (|| -> anyhow::Result<()> {
        if !media.exists() {
            std::fs::create_dir_all(media)?;
            placed.folders.push(media.clone());
        }
        for member in &manifest.members {
            if let Some(key) = member.name.strip_prefix(MEDIA_PREFIX) {
                let target = media.join(key);
                move_file(&scratch.path.join(flat_name(&member.name)?), &target)?;
                placed.files.push(target);
            }
        }
        if let (Some(path), true) = (&sandbox, manifest.has_sandbox()) {
            if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder)?;
            }
            move_file(&scratch.path.join(SANDBOX_MEMBER), path)?;
            placed.files.push(path.clone());
        }
        match &settings.database.url {
            DatabaseUrl::Sqlite(path) => {
                move_file(&scratch.path.join(SQLITE_MEMBER), path)?;
            }
            DatabaseUrl::Postgres(url) => {
                pg_restore(url.expose_secret(), &scratch.path.join(POSTGRES_MEMBER))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        placed.undo();
        return Err(e);
    }
    // The restore is whole already; this only spares the queue a wait.
    if let Err(e) = release_job_claims(settings) {
        tracing::warn!(error = %e, "jobs claimed at backup time wait for their lease to end");
    }
    Ok(manifest)
}

/// Jobs a worker of the backed-up marketplace was running run again at once.
fn release_job_claims(settings: &Settings) -> anyhow::Result<usize> {
    let pool = db::connect_pool_of(&settings.database, 1)?;
    let mut conn = pool.get()?;
    Ok(crate::jobs::release_claims(&mut conn)?)
}

/// The sandbox state file this configuration runs its provider on, if any.
fn sandbox_state(settings: &Settings) -> Option<PathBuf> {
    match settings.provider.kind {
        ProviderKind::Sandbox => settings.sandbox.state_file.clone(),
        ProviderKind::Stripe => None,
    }
}

fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Sandbox => "sandbox",
        ProviderKind::Stripe => "stripe",
    }
}

/// The newest migration this bazaar carries for `backend`.
fn newest_migration(backend: &str) -> String {
    let names = if backend == "postgres" {
        MigrationSource::<diesel::pg::Pg>::migrations(&db::POSTGRES_MIGRATIONS)
            .map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
    } else {
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&db::SQLITE_MIGRATIONS)
            .map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
    };
    names
        .unwrap_or_else(|_| Vec::<String>::new())
        .into_iter()
        .max()
        .unwrap_or_default()
}

/// Where the database's snapshot is, until it is in the archive.
enum Snapshot {
    Sqlite(PathBuf),
    Postgres(ExportedSnapshot),
}

/// What the backup records of the database itself.
struct Facts {
    schema_version: String,
    instance_id: Option<String>,
}

#[derive(QueryableByName)]
struct Newest {
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

fn facts_of(conn: &mut db::DbConnection) -> anyhow::Result<Facts> {
    let schema_version =
        diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
            .get_result::<Newest>(conn)
            .context("the database has no migrations table: is it a bazaar database?")?
            .version
            .unwrap_or_default();
    Ok(Facts {
        schema_version,
        instance_id: db::instance_id(conn)?,
    })
}

/// `VACUUM INTO`: a consistent, compacted copy of a live SQLite database.
fn vacuum_into(database: &Path, copy: &Path, busy_timeout: Duration) -> anyhow::Result<()> {
    anyhow::ensure!(
        database.is_file(),
        "the database {} does not exist: has this marketplace served yet?",
        database.display()
    );
    let mut conn = diesel::SqliteConnection::establish(utf8(database)?)
        .with_context(|| format!("cannot open {}", database.display()))?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        busy_timeout.as_millis()
    ))?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(utf8(copy)?)
        .execute(&mut conn)
        .with_context(|| format!("cannot copy {}", database.display()))?;
    Ok(())
}

/// A PostgreSQL transaction whose snapshot `pg_dump --snapshot` reads; it must
/// stay open until the dump has started reading.
struct ExportedSnapshot {
    conn: db::DbConnection,
    id: String,
}

#[derive(QueryableByName)]
struct SnapshotId {
    #[diesel(sql_type = Text)]
    id: String,
}

impl ExportedSnapshot {
    fn take(url: &str) -> anyhow::Result<ExportedSnapshot> {
        let mut conn = diesel::PgConnection::establish(url)
            .map_err(|e| anyhow!("cannot connect to the database: {e}"))?;
        conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let id = diesel::sql_query("SELECT pg_export_snapshot() AS id")
            .get_result::<SnapshotId>(&mut conn)?
            .id;
        Ok(ExportedSnapshot {
            conn: db::DbConnection::Postgresql(conn),
            id,
        })
    }
}

/// `url` without its password, and the password (for `PGPASSWORD`): libpq
/// tools would otherwise show it in the process list.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let Some(colon) = rest[..at].find(':') else {
        return (url.to_owned(), None);
    };
    let password = percent_encoding::percent_decode_str(&rest[colon + 1..at])
        .decode_utf8_lossy()
        .into_owned();
    let stripped = format!("{}{}{}", &url[..scheme_end], &rest[..colon], &rest[at..]);
    (stripped, Some(password))
}

/// A libpq tool (`pg_dump`, `pg_restore`) on `url`, its password passed in
/// the environment.
fn libpq_tool(tool: &str, url: &str) -> (Command, String) {
    let (url, password) = without_password(url);
    let mut command = Command::new(tool);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    (command, url)
}

fn run_tool(mut command: Command, tool: &str) -> anyhow::Result<()> {
    let output = command.output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            anyhow!("{tool} is not installed: it comes with PostgreSQL's client tools (Debian: postgresql-client)")
        } else {
            anyhow!("cannot run {tool}: {e}")
        }
    })?;
    if !output.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn pg_dump(url: &str, snapshot: &str, to: &Path) -> anyhow::Result<()> {
    let (mut command, url) = libpq_tool("pg_dump", url);
    command
        .args(["--format=custom", "--no-owner", "--no-privileges"])
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(to)
        .arg("--dbname")
        .arg(url);
    run_tool(command, "pg_dump")
}

fn pg_restore(url: &str, dump: &Path) -> anyhow::Result<()> {
    let (mut command, url) = libpq_tool("pg_restore", url);
    command
        .args([
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
        ])
        .arg("--dbname")
        .arg(url)
        .arg(dump);
    run_tool(command, "pg_restore")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn postgres_tables(url: &str) -> anyhow::Result<i64> {
    let mut conn = diesel::PgConnection::establish(url)
        .map_err(|e| anyhow!("cannot connect to the database: {e}"))?;
    Ok(diesel::sql_query(
        "SELECT COUNT(*) AS n FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .get_result::<Count>(&mut conn)?
    .n)
}

/// The pictures' keys: the folder's plain files, not the half-written ones
/// (their names start with a dot).
fn media_keys(dir: &Path) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if entry.file_type()?.is_file() && crate::media::store::is_flat_key(&name) {
            keys.push(name);
        }
    }
    keys.sort();
    Ok(keys)
}

/// Writes `sources` then the manifest `manifest` makes of them into a new
/// gzip-compressed tar at `path`, synced to disk.
fn write_archive(
    path: &Path,
    sources: &[(String, PathBuf)],
    manifest: impl FnOnce(Vec<Member>) -> Manifest,
) -> anyhow::Result<Manifest> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    // It holds password hashes and the installation's stored secrets.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let gzip = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut archive = tar::Builder::new(gzip);
    let mut members = Vec::new();
    for (name, source) in sources {
        let file = match File::open(source) {
            Ok(file) => file,
            // A picture deleted since it was listed: nothing names it any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound && name.starts_with(MEDIA_PREFIX) => {
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", source.display())),
        };
        let bytes = file.metadata()?.len();
        let mut reader = Hashing::new(file.take(bytes));
        archive.append_data(&mut header(bytes), name, &mut reader)?;
        anyhow::ensure!(
            reader.bytes == bytes,
            "{} changed size while it was copied",
            source.display()
        );
        members.push(Member {
            name: name.clone(),
            bytes,
            sha256: reader.hex(),
        });
    }
    let manifest = manifest(members);
    let json = serde_json::to_vec_pretty(&manifest)?;
    archive.append_data(&mut header(json.len() as u64), MANIFEST, json.as_slice())?;
    let gzip = archive.into_inner()?;
    let writer = gzip.finish()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(manifest)
}

fn header(bytes: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes);
    header.set_mode(0o600);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Reads every member of the backup `from` into the folder `into` (under its
/// [`flat_name`]), hashing as it goes, then checks them against the manifest
/// and returns it.
fn unpack(from: &Path, into: &Path) -> anyhow::Result<Manifest> {
    let not_a_backup = || format!("{} is not a bazaar backup (or is damaged)", from.display());
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let mut found = Vec::new();
    let mut manifest = None;
    for entry in archive.entries().with_context(not_a_backup)? {
        let mut entry = entry.with_context(not_a_backup)?;
        let name = entry
            .path()
            .with_context(not_a_backup)?
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!(not_a_backup()))?;
        if name == MANIFEST {
            let mut json = Vec::new();
            entry.read_to_end(&mut json).with_context(not_a_backup)?;
            manifest = Some(
                serde_json::from_slice::<Manifest>(&json)
                    .with_context(|| format!("{}: its manifest", not_a_backup()))?,
            );
            continue;
        }
        let target = into.join(flat_name(&name).with_context(not_a_backup)?);
        let mut out = File::create_new(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        let mut reader = Hashing::new(&mut entry);
        io::copy(&mut reader, &mut out).with_context(not_a_backup)?;
        out.sync_all()?;
        found.push(Member {
            name,
            bytes: reader.bytes,
            sha256: reader.hex(),
        });
    }
    let manifest = manifest.ok_or_else(|| anyhow!("{}: it has no manifest", not_a_backup()))?;
    anyhow::ensure!(
        manifest.format <= FORMAT,
        "{} is of backup format {} (this bazaar reads up to {FORMAT}): restore it with a newer bazaar",
        from.display(),
        manifest.format
    );
    for member in &manifest.members {
        anyhow::ensure!(
            found.contains(member),
            "{}: {} is missing or differs from its checksum",
            not_a_backup(),
            member.name
        );
    }
    anyhow::ensure!(
        found.len() == manifest.members.len(),
        "{}: it holds files its manifest does not name",
        not_a_backup()
    );
    Ok(manifest)
}

/// A member's name as one file name in the scratch folder: the known parts,
/// and pictures under keys the pictures folder accepts.
fn flat_name(name: &str) -> anyhow::Result<String> {
    if matches!(name, SQLITE_MEMBER | POSTGRES_MEMBER | SANDBOX_MEMBER) {
        return Ok(name.to_owned());
    }
    match name.strip_prefix(MEDIA_PREFIX) {
        Some(key) if crate::media::store::is_flat_key(key) => Ok(format!("media-{key}")),
        _ => bail!("unexpected member {name:?}"),
    }
}

/// Counts and hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A folder of work files beside a target, removed with everything in it.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn beside(target: &Path, suffix: &str) -> anyhow::Result<Scratch> {
        let path = sibling(
            target,
            &format!("{}.{suffix}", uuid::Uuid::new_v4().simple()),
        );
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `target` with `.suffix` added to its file name.
fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// What a restore has put in place, to take back when a later part fails.
#[derive(Default)]
struct Placed {
    files: Vec<PathBuf>,
    folders: Vec<PathBuf>,
}

impl Placed {
    fn undo(self) {
        for file in self.files {
            for part in journal::database_files(&file) {
                let _ = std::fs::remove_file(part);
            }
        }
        for folder in self.folders {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

/// Moves a file (a copy when `to` is on another file system) and makes the
/// move durable.
fn move_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        let mut source = File::open(from)?;
        let mut target =
            File::create_new(to).with_context(|| format!("cannot write {}", to.display()))?;
        io::copy(&mut source, &mut target)
            .with_context(|| format!("cannot write {}", to.display()))?;
        target.sync_all()?;
    }
    sync_folder(to);
    Ok(())
}

/// Syncs the folder holding `path`, so a rename into it survives a crash.
fn sync_folder(path: &Path) {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("{} is not a UTF-8 path", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_for_the_environment() {
        assert_eq!(
            without_password("postgres://bazaar:s%40cret@db1:5432,db2:5432/market?sslmode=require"),
            (
                "postgres://bazaar@db1:5432,db2:5432/market?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1/test"),
            ("postgres://postgres@127.0.0.1/test".to_owned(), None)
        );
        assert_eq!(
            without_password("postgres://127.0.0.1/test?user=a@b"),
            ("postgres://127.0.0.1/test?user=a@b".to_owned(), None)
        );
    }

    #[test]
    fn only_known_members_and_flat_picture_keys_are_unpacked() {
        assert_eq!(flat_name("sandbox.db").unwrap(), "sandbox.db");
        assert_eq!(
            flat_name("media/ab-640w.webp").unwrap(),
            "media-ab-640w.webp"
        );
        assert!(flat_name("media/../../etc/passwd").is_err());
        assert!(flat_name("media/.hidden").is_err());
        assert!(flat_name("other.txt").is_err());
    }
}
