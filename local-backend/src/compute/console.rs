//! GetConsoleOutput: the tail of the serial console's log, from the
//! instance's directory or its host's storage pool.

use cloud::{Error, ResourceKind, Result};

use super::libvirt::Inner;
use super::pool;

/// GetConsoleOutput returns at most the latest 64 KiB, as EC2 does.
const CONSOLE_TAIL: u64 = 64 * 1024;

impl Inner {
    pub(super) fn console(&self, name: &str) -> Result<(Vec<u8>, Option<String>)> {
        use std::io::{Read, Seek, SeekFrom};
        let Some((host, _, _)) = self.find(name)? else {
            return Err(Error::not_found(ResourceKind::Instance, name));
        };
        if let Some((pool, path)) = &host.pool {
            let bytes = host.with_conn(|conn| {
                let pool = pool::ensure(conn, pool, path)?;
                pool::read_tail(conn, &pool, &console_log_name(name), CONSOLE_TAIL)
            })?;
            return Ok((bytes, None));
        }
        let path = self.instances_dir.join(name).join("console.log");
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok((Vec::new(), None));
        };
        let metadata = file.metadata().map_err(Error::internal)?;
        let start = metadata.len().saturating_sub(CONSOLE_TAIL);
        file.seek(SeekFrom::Start(start)).map_err(Error::internal)?;
        let mut bytes = Vec::with_capacity((metadata.len() - start) as usize);
        file.read_to_end(&mut bytes).map_err(Error::internal)?;
        let captured = metadata.modified().ok().and_then(|t| {
            time::OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        Ok((bytes, captured))
    }
}

/// An instance's console log in its host's pool.
pub(super) fn console_log_name(name: &str) -> String {
    format!("{name}.console.log")
}
