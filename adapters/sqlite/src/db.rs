//! The database file: opening it (a foreign or damaged file is refused untouched), its
//! versioned schema, one writer thread committing in groups, and the readers.
//!
//! **Durability.** The file is in WAL mode with `synchronous=FULL`: a commit returns once
//! the WAL is on disk, so what Avvio acknowledged (a webhook answered 200, a step recorded as
//! being sent) survives a crash of the process *and* of the machine. `NORMAL` would survive a
//! process crash only; its saving is one `fsync` per commit, which group commit already
//! spreads over every write waiting at that moment (see [`Writer`]).

use avvio_common::ports::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

/// `PRAGMA application_id` of an Avvio file ("Avvi"): a SQLite file without it is not ours.
pub const APPLICATION_ID: i32 = 0x4176_7669;

/// The schema's migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_parked_statuses.sql"),
    include_str!("../migrations/0003_runs_retention.sql"),
    include_str!("../migrations/0004_dead_letters.sql"),
];

/// Files up to this size get SQLite's `quick_check` at every start (tens of milliseconds).
const QUICK_CHECK_UP_TO: u64 = 64 * 1024 * 1024;

/// The most writes one commit carries.
const MAX_GROUP: usize = 512;

/// Why the file could not be opened. The file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path} is not an Avvio database: {why}")]
    Foreign { path: PathBuf, why: String },
    #[error("{path} is damaged: {why}")]
    Damaged { path: PathBuf, why: String },
    #[error("{path} was written by a newer Avvio (schema version {found}; this one knows up to {known})")]
    Newer { path: PathBuf, found: i64, known: usize },
    #[error("cannot open {path}: {why}")]
    Io { path: PathBuf, why: String },
}

/// A failure inside a read or a write: SQLite's, or the store's own (a conflict, a corrupt
/// document). The ports see a [`StoreError`]; a SQLite error is retryable.
#[derive(Debug)]
pub enum Failure {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Sql(e) => StoreError::Unavailable(format!("the database: {e}")),
            Failure::Store(e) => e,
        }
    }
}

/// Checks that `path` is empty, missing or an Avvio database this build can read, opening it
/// read-only so that nothing is written to a file that is not ours.
fn inspect(path: &Path) -> Result<(), OpenError> {
    let foreign = |why: String| OpenError::Foreign { path: path.to_path_buf(), why };
    let damaged = |why: String| OpenError::Damaged { path: path.to_path_buf(), why };
    let io = |why: String| OpenError::Io { path: path.to_path_buf(), why };
    let len = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => return Err(io("not a file".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e.to_string())),
    };
    if len == 0 {
        return Ok(());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| io(e.to_string()))?;
    let classify = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => foreign("not a SQLite database".into()),
        Some(ErrorCode::DatabaseCorrupt) => damaged(e.to_string()),
        _ => io(e.to_string()),
    };
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0));
    let application_id = pragma("application_id").map_err(classify)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |row| row.get(0))
        .map_err(classify)?;
    if application_id != i64::from(APPLICATION_ID) {
        if application_id == 0 && tables == 0 {
            return Ok(());
        }
        return Err(foreign(format!("a SQLite database of another application (application_id {application_id})")));
    }
    let version = pragma("user_version").map_err(classify)?;
    if version > MIGRATIONS.len() as i64 {
        return Err(OpenError::Newer { path: path.to_path_buf(), found: version, known: MIGRATIONS.len() });
    }
    // A file cut short: its header counts more pages than it holds (the WAL may hold the rest
    // only when it exists).
    let (pages, page_size) = (pragma("page_count").map_err(classify)?, pragma("page_size").map_err(classify)?);
    let wal = PathBuf::from(format!("{}-wal", path.display())).exists();
    if !wal && (pages * page_size) as u64 > len {
        return Err(damaged(format!("{len} bytes hold fewer than its {pages} pages of {page_size} bytes")));
    }
    // Every table's first rows, which a damaged root page (the usual damage of a bad copy)
    // fails; a small file is checked whole. Damage deeper in a large one is reported by the
    // read that meets it (`sqlite3 FILE "PRAGMA quick_check"` checks a backup: 0.5 s per
    // 500 MB from the page cache, 10 s from a cold disk — too long for every start).
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(classify)?;
    for table in tables {
        let first = format!("SELECT * FROM \"{}\" LIMIT 1", table.replace('"', "\"\""));
        conn.query_row(&first, [], |_| Ok(())).optional().map_err(classify)?;
    }
    if len <= QUICK_CHECK_UP_TO {
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0)).map_err(classify)?;
        if verdict != "ok" {
            return Err(damaged(verdict));
        }
    }
    Ok(())
}

/// Opens a connection with Avvio's settings.
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, OpenError> {
    let io = |e: rusqlite::Error| OpenError::Io { path: path.to_path_buf(), why: e.to_string() };
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(io)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -65536;",
    )
    .map_err(io)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies the migrations the file has not had yet, in one transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let io = |e: rusqlite::Error| OpenError::Io { path: path.to_path_buf(), why: e.to_string() };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).map_err(io)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(io)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration).map_err(io)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1)).map_err(io)?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}")).map_err(io)?;
    tx.commit().map_err(io)
}

/// An open database: its writer and its readers.
#[derive(Clone)]
pub struct Db {
    writer: Writer,
    readers: Arc<Readers>,
}

impl Db {
    /// Opens (creating it when missing or empty) the Avvio database at `path`, migrated to
    /// this build's schema.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        inspect(path)?;
        let mut conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            writer: Writer::start(conn),
            readers: Arc::new(Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }),
        })
    }

    /// Runs `f` on a reader. Reads are short indexed lookups, mostly from SQLite's page
    /// cache: they run on the caller's thread rather than paying a hop to another one.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, Failure>) -> Result<R, StoreError> {
        let conn = self.readers.take()?;
        let result = f(&conn);
        self.readers.put(conn);
        Ok(result?)
    }

    /// Checkpoints the WAL into the file and closes the database: later reads and writes
    /// fail. A clean stop leaves one file.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.readers.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.writer.close().await
    }

    /// Runs `f` in the writer's next commit; its result once that commit is durable. `f` runs
    /// in a savepoint: an `Err` undoes its writes only.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.writer.write(f).await
    }
}

/// Read connections, opened as needed and kept for the next read.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        connect(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn put(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
    }
}

/// A write waiting for the writer: run in a savepoint, or refused when no transaction could
/// start.
trait Job: Send {
    /// Runs the write; whether its savepoint is kept, and how to answer its caller once the
    /// commit is known.
    fn run(self: Box<Self>, conn: &Connection) -> Done;
    fn refuse(self: Box<Self>, error: StoreError);
}

struct Done {
    kept: bool,
    answer: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

struct Write<F, R> {
    f: F,
    answer: tokio::sync::oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Job for Write<F, R>
where
    F: FnOnce(&Connection) -> Result<R, Failure> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Done {
        let Write { f, answer } = *self;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn).map_err(StoreError::from)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a write panicked".into())));
        Done {
            kept: result.is_ok(),
            answer: Box::new(move |committed| {
                let _ = answer.send(committed.and(result));
            }),
        }
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send(Err(error));
    }
}

/// The one writer: a thread owning the write connection. It takes every job waiting (up to
/// [`MAX_GROUP`]), runs each in its own savepoint inside one transaction, commits once, then
/// answers them all: many writes share one `fsync` (group commit), and no caller hears
/// "done" before its write is durable.
#[derive(Clone)]
struct Writer {
    jobs: mpsc::Sender<Message>,
}

enum Message {
    Job(Box<dyn Job>),
    /// Checkpoint the WAL into the file and stop (the last connection closing removes it).
    Close(tokio::sync::oneshot::Sender<Result<(), StoreError>>),
}

impl Writer {
    fn start(conn: Connection) -> Self {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("avvio-sqlite-writer".into())
            .spawn(move || write_loop(conn, &queue))
            .expect("the writer thread starts");
        Self { jobs }
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs.send(Message::Job(Box::new(Write { f, answer }))).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    async fn close(&self) -> Result<(), StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        if self.jobs.send(Message::Close(answer)).is_err() {
            return Ok(());
        }
        answered.await.unwrap_or(Ok(()))
    }
}

fn write_loop(conn: Connection, queue: &mpsc::Receiver<Message>) {
    let failed = |what: &str, e: rusqlite::Error| StoreError::Unavailable(format!("{what}: {e}"));
    let mut closing = None;
    while let Ok(first) = queue.recv() {
        let mut jobs = Vec::new();
        for message in std::iter::once(first).chain(std::iter::from_fn(|| queue.try_recv().ok())) {
            match message {
                Message::Job(job) => jobs.push(job),
                Message::Close(answer) => {
                    closing = Some(answer);
                    break;
                }
            }
            if jobs.len() == MAX_GROUP {
                break;
            }
        }
        if !jobs.is_empty() {
            commit_group(&conn, jobs, failed);
        }
        if let Some(answer) = closing.take() {
            let checkpoint = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| failed("cannot checkpoint", e));
            let closed = conn.close().map_err(|(_, e)| failed("cannot close", e));
            let _ = answer.send(checkpoint.and(closed));
            return;
        }
    }
}

/// Runs `jobs` in one transaction, each in its savepoint, and answers them once it committed.
fn commit_group(conn: &Connection, jobs: Vec<Box<dyn Job>>, failed: impl Fn(&str, rusqlite::Error) -> StoreError) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = failed("cannot begin a write", e);
        jobs.into_iter().for_each(|job| job.refuse(error.clone()));
        return;
    }
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            job.refuse(failed("savepoint", e));
            continue;
        }
        let done = job.run(conn);
        let closed = if done.kept {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        answers.push((done.answer, closed.map_err(|e| failed("savepoint", e))));
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        failed("cannot commit", e)
    });
    for (answer, closed) in answers {
        answer(committed.clone().and(closed));
    }
}
