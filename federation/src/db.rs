//! Database handle over SQLite (embedded default) or PostgreSQL, chosen by URL.
//!
//! All SQL is written once, portable to both (`$1` placeholders work in both
//! through sqlx's `Any` driver); migrations run at connect.

use std::time::{SystemTime, UNIX_EPOCH};

use cloud::{Error, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// A pooled connection to Skyport's database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    is_sqlite: bool,
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
        Ok(Db { pool, is_sqlite })
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    /// writes fails with "database is locked" instead of waiting its turn.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begun = if self.is_sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        };
        begun.map_err(db_err)
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
