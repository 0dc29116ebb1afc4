//! Storage on compute hosts that do not see the gateway's files: a libvirt
//! directory pool on the host receives image files (uploaded once, through
//! libvirt's stream API), instances' copy-on-write disks (made by libvirt
//! from the image's volume) and serial console logs (read back the same way).
//! Everything travels over the libvirt connection (`qemu+ssh://`,
//! `qemu+tls://`), so such a host needs nothing but libvirtd.

use std::io::Read;
use std::path::Path;

use cloud::{Error, Result};
use quick_xml::escape::escape;
use virt::connect::Connect;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use super::libvirt::virt_error;

/// How much is sent or received per stream call.
const CHUNK: usize = 1024 * 1024;

/// The pool `name`, defined (a directory at `path`, created) and started when needed.
pub(crate) fn ensure(conn: &Connect, name: &str, path: &Path) -> Result<StoragePool> {
    let pool = match StoragePool::lookup_by_name(conn, name) {
        Ok(pool) => pool,
        Err(_) => {
            let xml = format!(
                "<pool type='dir'><name>{}</name><target><path>{}</path></target></pool>",
                escape(name),
                escape(path.to_string_lossy())
            );
            let pool = StoragePool::define_xml(conn, &xml, 0)
                .map_err(|e| virt_error("defining the storage pool", e))?;
            pool.build(0)
                .map_err(|e| virt_error("creating the storage pool's directory", e))?;
            let _ = pool.set_autostart(true);
            pool
        }
    };
    if !pool.is_active().unwrap_or(false) {
        pool.create(0)
            .map_err(|e| virt_error("starting the storage pool", e))?;
    }
    Ok(pool)
}

/// The pool's directory on its host.
pub(crate) fn directory(pool: &StoragePool) -> Result<String> {
    let xml = pool
        .get_xml_desc(0)
        .map_err(|e| virt_error("reading the storage pool", e))?;
    let start = xml
        .find("<path>")
        .map(|at| at + "<path>".len())
        .ok_or_else(|| Error::internal("the storage pool has no target path"))?;
    let end = xml[start..]
        .find("</path>")
        .ok_or_else(|| Error::internal("the storage pool's target path is not closed"))?;
    Ok(xml[start..start + end].to_string())
}

fn volume(pool: &StoragePool, name: &str) -> Option<StorageVol> {
    StorageVol::lookup_by_name(pool, name).ok()
}

/// The host's path of `local`, uploaded into volume `name` unless a complete
/// copy is there. A `NAME.done` marker volume is written after the upload,
/// so an upload cut short is made again rather than booted from.
pub(crate) fn upload(
    conn: &Connect,
    pool: &StoragePool,
    name: &str,
    local: &Path,
) -> Result<String> {
    let marker = format!("{name}.done");
    if let (Some(vol), Some(_)) = (volume(pool, name), volume(pool, &marker)) {
        return vol
            .get_path()
            .map_err(|e| virt_error("reading a volume's path", e));
    }
    if let Some(partial) = volume(pool, name) {
        let _ = partial.delete(0);
    }
    let mut file = std::fs::File::open(local)
        .map_err(|e| Error::internal(format!("opening {}: {e}", local.display())))?;
    let size = file.metadata().map_err(Error::internal)?.len();
    let vol = create(pool, name, size, "raw")?;
    let sent = send_file(conn, &vol, &mut file, size);
    if let Err(error) = sent {
        let _ = vol.delete(0);
        return Err(error);
    }
    create(pool, &marker, 0, "raw")?;
    vol.get_path()
        .map_err(|e| virt_error("reading a volume's path", e))
}

fn create(pool: &StoragePool, name: &str, bytes: u64, format: &str) -> Result<StorageVol> {
    let xml = format!(
        "<volume><name>{}</name><capacity unit='bytes'>{bytes}</capacity>\
         <target><format type='{format}'/></target></volume>",
        escape(name)
    );
    StorageVol::create_xml(pool, &xml, 0).map_err(|e| virt_error("creating a volume", e))
}

fn send_file(conn: &Connect, vol: &StorageVol, file: &mut std::fs::File, size: u64) -> Result<()> {
    let stream = Stream::new(conn, 0).map_err(|e| virt_error("opening an upload stream", e))?;
    vol.upload(&stream, 0, size, 0)
        .map_err(|e| virt_error("starting an upload", e))?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = file.read(&mut buffer).map_err(Error::internal)?;
        if read == 0 {
            break;
        }
        let mut sent = 0;
        while sent < read {
            match stream.send(&buffer[sent..read]) {
                Ok(n) => sent += n,
                Err(e) => {
                    let _ = stream.abort();
                    return Err(virt_error("uploading", e));
                }
            }
        }
    }
    stream
        .finish()
        .map_err(|e| virt_error("finishing an upload", e))
}

/// A qcow2 volume `name` backed by the image volume at `backing` (libvirt
/// runs qemu-img on the host); returns its path there.
pub(crate) fn overlay(
    pool: &StoragePool,
    name: &str,
    backing: &str,
    backing_format: &str,
    virtual_size: u64,
) -> Result<String> {
    let xml = format!(
        "<volume><name>{}</name><capacity unit='bytes'>{virtual_size}</capacity>\
         <target><format type='qcow2'/></target>\
         <backingStore><path>{}</path><format type='{backing_format}'/></backingStore></volume>",
        escape(name),
        escape(backing)
    );
    let vol = StorageVol::create_xml(pool, &xml, 0)
        .map_err(|e| virt_error("creating the instance's disk", e))?;
    vol.get_path()
        .map_err(|e| virt_error("reading a volume's path", e))
}

/// The last `tail` bytes of file `name` in the pool (empty when absent).
pub(crate) fn read_tail(
    conn: &Connect,
    pool: &StoragePool,
    name: &str,
    tail: u64,
) -> Result<Vec<u8>> {
    // Files written on the host (console logs) join the pool's list on refresh.
    pool.refresh(0)
        .map_err(|e| virt_error("refreshing the storage pool", e))?;
    let Some(vol) = volume(pool, name) else {
        return Ok(Vec::new());
    };
    let size = vol
        .get_info()
        .map_err(|e| virt_error("reading a volume", e))?
        .capacity;
    let offset = size.saturating_sub(tail);
    if offset == size {
        return Ok(Vec::new());
    }
    let stream = Stream::new(conn, 0).map_err(|e| virt_error("opening a download stream", e))?;
    vol.download(&stream, offset, size - offset, 0)
        .map_err(|e| virt_error("starting a download", e))?;
    let mut bytes = Vec::with_capacity((size - offset) as usize);
    let mut buffer = vec![0u8; CHUNK.min((size - offset) as usize).max(4096)];
    loop {
        match stream.recv(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) => {
                let _ = stream.abort();
                return Err(virt_error("downloading", e));
            }
        }
    }
    stream
        .finish()
        .map_err(|e| virt_error("finishing a download", e))?;
    Ok(bytes)
}

/// Deletes the volumes `names` that exist.
pub(crate) fn remove(pool: &StoragePool, names: &[String]) {
    let _ = pool.refresh(0);
    for name in names {
        if let Some(vol) = volume(pool, name) {
            if let Err(e) = vol.delete(0) {
                tracing::warn!(volume = %name, error = %e, "deleting a volume failed");
            }
        }
    }
}
