//! Skyport's database: one handle over SQLite (the embedded default) or
//! PostgreSQL, chosen by URL; the schema every record crate shares; and the
//! row helpers they read columns with.
//!
//! All SQL is written once, portable to both (`$1` placeholders work in both
//! through sqlx's `Any` driver); migrations run at connect.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloud::tenancy::{Quotas, Tenant};
use cloud::{Error, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// A pooled connection to Skyport's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    is_sqlite: bool,
    /// SQLite's writers take turns here, first come first served (see [`Db::begin_write`]).
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// How long a writer waits for its turn before going to SQLite's lock
/// directly (as it did before turns): a safety valve, never reached when
/// transactions are short, that keeps a writer nested in another's
/// transaction from waiting forever.
const TURN_PATIENCE: Duration = Duration::from_secs(10);

/// A write transaction from [`Db::begin_write`]; on SQLite it also holds the
/// process's write turn until it commits, rolls back or is dropped.
pub struct WriteTx {
    // Field order is drop order: the transaction (its rollback queued) before the turn.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then gives the turn to the next writer.
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and runs migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 16 })
            .connect(url)
            .await
            .map_err(|e| Error::internal(format!("connecting to the database: {e}")))?;
        if is_sqlite {
            // WAL lets readers run beside the writer; the setting is stored in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await
                .map_err(db_err)?;
        }
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("running database migrations: {e}")))?;
        if !is_sqlite {
            binary_key_order(&pool).await?;
        }
        let write_turn = is_sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Db {
            pool,
            is_sqlite,
            write_turn,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    /// writes fails with "database is locked" instead of waiting its turn.
    ///
    /// SQLite writers first queue for the process's write turn (a fair async
    /// mutex): SQLite's own busy handler makes waiters sleep and retry with
    /// back-off of up to 100 ms, so under contention the lock sat idle while
    /// writers slept, and an unlucky one waited seconds.
    ///
    /// The BEGIN runs in a task of its own, so that a caller cancelled while it
    /// waits for the lock (a client hanging up mid-PUT) cannot stop it halfway:
    /// sqlx checks a custom BEGIN with one more await after the database has
    /// begun, and a future dropped there hands the connection back to the pool
    /// inside a transaction nobody owns, holding the write lock for good. Run
    /// to the end, the transaction exists and its drop rolls it back.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        let turn = match &self.write_turn {
            Some(turn) => {
                match tokio::time::timeout(TURN_PATIENCE, turn.clone().lock_owned()).await {
                    Ok(guard) => Some(guard),
                    Err(_) => {
                        tracing::warn!("a write waited over {TURN_PATIENCE:?} for its turn; going to SQLite's lock directly");
                        None
                    }
                }
            }
            None => None,
        };
        let pool = self.pool.clone();
        let is_sqlite = self.is_sqlite;
        let begun = tokio::spawn(async move {
            if is_sqlite {
                pool.begin_with("BEGIN IMMEDIATE").await
            } else {
                pool.begin().await
            }
        })
        .await
        .map_err(|e| Error::internal(format!("starting a transaction: {e}")))?;
        Ok(WriteTx {
            tx: begun.map_err(db_err)?,
            _turn: turn,
        })
    }

    /// Runs `statements`, each binding `id` as `$1`, in one write transaction:
    /// all of them or none (deleting a resource with what hangs off it).
    pub async fn execute_each(&self, statements: &[&str], id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for statement in statements {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// One tenant's records: `sql` binds the tenant as `$1` and, if given,
    /// `argument` as `$2`; `record` reads each row.
    pub async fn tenant_rows<T>(
        &self,
        sql: &str,
        tenant_id: &str,
        argument: Option<&str>,
        record: impl Fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut query = sqlx::query(sql).bind(tenant_id);
        if let Some(argument) = argument {
            query = query.bind(argument);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(record).collect()
    }

    /// Whether this is the embedded SQLite database.
    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// S3 lists keys in UTF-8 byte order. SQLite compares text that way; a
/// PostgreSQL column follows the database's locale unless told otherwise, so
/// key columns get the "C" collation (once; the check is cheap).
async fn binary_key_order(pool: &AnyPool) -> Result<()> {
    for (table, column) in [
        ("objects", "object_key"),
        ("multipart_uploads", "object_key"),
        ("object_versions", "object_key"),
    ] {
        let row = sqlx::query(
            "SELECT COALESCE(CAST(collation_name AS TEXT), '') AS collation FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
        )
        .bind(table)
        .bind(column)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
        if text(&row, "collation")? != "C" {
            sqlx::query(&format!(
                "ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT COLLATE \"C\""
            ))
            .execute(pool)
            .await
            .map_err(db_err)?;
        }
    }
    Ok(())
}

/// Current time in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A time a target reported in RFC 3339, if it is one.
pub fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Folds a database failure into the domain's internal error.
pub fn db_err(error: sqlx::Error) -> Error {
    Error::internal(format!("database: {error}"))
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Reads a text column.
pub fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(db_err)
}

/// Reads an integer column.
pub fn int(row: &AnyRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).map_err(db_err)
}

/// Reads a nullable integer column.
pub fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(column).map_err(db_err)
}

/// Reads a nullable text column.
pub fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(column).map_err(db_err)
}

/// The columns [`tenant_from_row`] reads, for queries that select a tenant.
pub const TENANT_COLUMNS: &str =
    "id, name, account_id, created_at, quota_instances, quota_vcpus, quota_volume_gib, quota_buckets, quota_stored_bytes";

/// A tenant from a row holding [`TENANT_COLUMNS`] (joins included).
pub fn tenant_from_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: text(row, "id")?,
        name: text(row, "name")?,
        account_id: text(row, "account_id")?,
        created_at: int(row, "created_at")?,
        quotas: Quotas {
            instances: opt_int(row, "quota_instances")?,
            vcpus: opt_int(row, "quota_vcpus")?,
            volume_gib: opt_int(row, "quota_volume_gib")?,
            buckets: opt_int(row, "quota_buckets")?,
            stored_bytes: opt_int(row, "quota_stored_bytes")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Db;

    /// Writers cancelled at any point of `begin_write` (a client hanging up
    /// while its PUT waits for the write lock) must not leave a connection
    /// inside a transaction nobody owns: it would hold SQLite's write lock, and
    /// every later writer would fail with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_writers_leave_no_transaction_behind() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        for round in 0..300u64 {
            // Held outside the write turns (as another process would), so the
            // waiters' BEGINs themselves wait for SQLite's lock.
            let holder = db.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let db = db.clone();
                    tokio::spawn(async move { db.begin_write().await.map(drop) })
                })
                .collect();
            tokio::time::sleep(Duration::from_micros(200 + round % 7 * 150)).await;
            holder.commit().await.unwrap();
            // Cancel the waiters at different points of their BEGIN.
            std::thread::sleep(Duration::from_micros(round % 11 * 40));
            for waiter in waiters {
                waiter.abort();
            }
        }
        let started = Instant::now();
        for _ in 0..8 {
            let tx = tokio::time::timeout(Duration::from_secs(20), db.begin_write())
                .await
                .expect("begin_write hangs")
                .expect("no transaction is left holding the write lock");
            tx.commit().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "writers waited {:?} for a lock nobody should hold",
            started.elapsed()
        );
    }
}
