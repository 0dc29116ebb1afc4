//! The blob store a database's objects live in. Object records name blobs;
//! only the store that holds them can serve them. Until objects work across
//! gateways with separate stores, a gateway must see the very store its
//! database refers to: the store's ID is written once in the database and in
//! the store's directory, and a gateway whose two disagree refuses to start.

use std::io::ErrorKind;
use std::path::Path;

use cloud::{Error, Result};
use sqlx::Row;

use datastore::{db_err, now_ms, Db};

/// The file in the blob directory that names its store.
pub const STORE_ID_FILE: &str = "store-id";

/// Why a gateway may not serve this database's objects from this directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreIdentityError {
    #[error(
        "the database's objects live in blob store {recorded}, but {dir} is {found}: this \
         gateway could not read them. Gateways sharing one database must share its data \
         directory's objects/ (one filesystem, mounted at the same path) — serving objects \
         across separate stores is not supported yet. Start this gateway with that data \
         directory, or give it a database of its own."
    )]
    Mismatch {
        recorded: String,
        dir: String,
        found: String,
    },
    #[error("checking the blob store's identity: {0}")]
    Failed(#[from] Error),
}

/// Makes sure the blob directory `root` is the store the database refers to,
/// recording the identity on first use (a new database adopts the store it
/// is opened with; a store predating identities gets one). Returns the ID.
pub async fn ensure(db: &Db, root: &Path) -> std::result::Result<String, StoreIdentityError> {
    let file = root.join(STORE_ID_FILE);
    let on_disk = match std::fs::read_to_string(&file) {
        Ok(text) => Some(text.trim().to_string()).filter(|id| !id.is_empty()),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::internal(format!("reading {}: {e}", file.display())).into());
        }
    };
    let candidate = on_disk
        .clone()
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    // Whoever comes first writes it; everyone after reads the same row.
    sqlx::query(
        "INSERT INTO store_identity (singleton, store_id, created_ms) VALUES (1, $1, $2) \
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(&candidate)
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map_err(db_err)?;
    let recorded: String = sqlx::query("SELECT store_id FROM store_identity WHERE singleton = 1")
        .fetch_one(db.pool())
        .await
        .map_err(db_err)?
        .try_get("store_id")
        .map_err(db_err)?;
    match on_disk {
        Some(id) if id == recorded => Ok(recorded),
        None if recorded == candidate => {
            write_once(&file, &recorded)?;
            Ok(recorded)
        }
        found => Err(StoreIdentityError::Mismatch {
            recorded,
            dir: root.display().to_string(),
            found: match found {
                Some(id) => format!("blob store {id}"),
                None => format!("a store without an identity (no {STORE_ID_FILE})"),
            },
        }),
    }
}

/// Writes the ID file durably (temporary file, fsync, rename).
fn write_once(file: &Path, id: &str) -> Result<()> {
    use std::io::Write;
    let tmp = file.with_extension("tmp");
    let failed = |e: std::io::Error| Error::internal(format!("writing {}: {e}", file.display()));
    let mut out = std::fs::File::create(&tmp).map_err(failed)?;
    out.write_all(format!("{id}\n").as_bytes())
        .map_err(failed)?;
    out.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, file).map_err(failed)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite(dir: &Path) -> Db {
        Db::connect(&format!("sqlite://{}/skyport.db?mode=rwc", dir.display()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn one_store_per_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let id = ensure(&db, &a).await.unwrap();
        assert_eq!(id.len(), 32);
        // Again, and after a restart: the same store.
        assert_eq!(ensure(&db, &a).await.unwrap(), id);
        assert_eq!(
            std::fs::read_to_string(a.join(STORE_ID_FILE))
                .unwrap()
                .trim(),
            id
        );
        // An empty directory is not that store.
        let refused = ensure(&db, &b).await.unwrap_err().to_string();
        assert!(
            refused.contains(&id) && refused.contains("no store-id"),
            "{refused}"
        );
        assert!(!b.join(STORE_ID_FILE).exists());
        // Nor is another store.
        let other = sqlite(&b).await;
        ensure(&other, &b).await.unwrap();
        let refused = ensure(&db, &b).await.unwrap_err().to_string();
        assert!(refused.contains("is blob store"), "{refused}");
    }

    #[tokio::test]
    async fn a_new_database_adopts_an_existing_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("objects");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(
            store.join(STORE_ID_FILE),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        let db = sqlite(dir.path()).await;
        assert_eq!(
            ensure(&db, &store).await.unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
    }
}
