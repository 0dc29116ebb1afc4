//! A site's claim on this machine. Sites sharing a machine must not share
//! segment ids (their devices are named by them), public pools (each puts
//! its pool's first address on its public bridge) or a libvirt network:
//! a running gateway holds a claim file (locked for as long as it runs)
//! naming what it uses, and a second site whose settings clash is refused
//! with the clash named. A claim whose gateway is gone is stale and ignored.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use cloud::{Error, Result};
use ipnet::Ipv4Net;

/// Where running sites keep their claims (gone at reboot, as the sites are).
pub const CLAIMS_DIR: &str = "/run/skyport/sites";

/// What a site uses on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteClaim {
    /// The site's data directory: its identity.
    pub data_dir: PathBuf,
    /// Its segment ids (tenant networks on).
    pub segments: Option<RangeInclusive<i64>>,
    /// Its public pool (tenant networks on).
    pub public_pool: Option<Ipv4Net>,
    /// Its libvirt network and that network's bridge (local compute on).
    pub libvirt_network: Option<String>,
    pub bridge: Option<String>,
}

/// A claim held by this process until dropped.
#[derive(Debug)]
pub struct HeldClaim {
    _file: File,
}

/// The claim file of the site in `data_dir`: named by a hash of the path.
fn claim_path(dir: &Path, data_dir: &Path) -> PathBuf {
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = data_dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    dir.join(format!("{hash:016x}.claim"))
}

fn io(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::Unavailable(format!("{what} {}: {error}", path.display()))
}

impl SiteClaim {
    fn text(&self) -> String {
        let mut text = format!(
            "pid={}\ndata_dir={}\n",
            std::process::id(),
            self.data_dir.display()
        );
        if let Some(range) = &self.segments {
            text.push_str(&format!("segments={}-{}\n", range.start(), range.end()));
        }
        if let Some(pool) = &self.public_pool {
            text.push_str(&format!("public_pool={pool}\n"));
        }
        if let Some(network) = &self.libvirt_network {
            text.push_str(&format!("libvirt_network={network}\n"));
        }
        if let Some(bridge) = &self.bridge {
            text.push_str(&format!("bridge={bridge}\n"));
        }
        text
    }

    /// A claim file's text, and the pid that wrote it.
    fn parse(text: &str) -> (SiteClaim, String) {
        let mut claim = SiteClaim::default();
        let mut pid = String::from("?");
        for (key, value) in text.lines().filter_map(|line| line.split_once('=')) {
            match key {
                "pid" => pid = value.to_string(),
                "data_dir" => claim.data_dir = value.into(),
                "segments" => {
                    claim.segments = value
                        .split_once('-')
                        .and_then(|(first, last)| Some(first.parse().ok()?..=last.parse().ok()?))
                }
                "public_pool" => claim.public_pool = value.parse().ok(),
                "libvirt_network" => claim.libvirt_network = Some(value.into()),
                "bridge" => claim.bridge = Some(value.into()),
                _ => {}
            }
        }
        (claim, pid)
    }

    /// What this claim and `other` would both use, in the words of the settings.
    fn clash(&self, other: &SiteClaim) -> Option<String> {
        if let (Some(mine), Some(theirs)) = (&self.segments, &other.segments) {
            if mine.start() <= theirs.end() && theirs.start() <= mine.end() {
                return Some(format!(
                    "[network] segment_range [{}, {}] overlaps its [{}, {}]",
                    mine.start(),
                    mine.end(),
                    theirs.start(),
                    theirs.end()
                ));
            }
        }
        if let (Some(mine), Some(theirs)) = (&self.public_pool, &other.public_pool) {
            if mine.contains(&theirs.network()) || theirs.contains(&mine.network()) {
                return Some(format!(
                    "[network] public_pool {mine} overlaps its {theirs}"
                ));
            }
        }
        if self.libvirt_network.is_some() && self.libvirt_network == other.libvirt_network {
            return Some(format!(
                "[compute] network '{}' is its network too",
                self.libvirt_network.as_deref().unwrap_or_default()
            ));
        }
        if self.bridge.is_some() && self.bridge == other.bridge {
            return Some(format!(
                "[compute] bridge '{}' is its bridge too",
                self.bridge.as_deref().unwrap_or_default()
            ));
        }
        None
    }

    /// Takes this site's claim in `dir`, or says which running site's
    /// clashes. Where claims cannot be kept at all (no right to write
    /// `dir`), the site runs unclaimed and says so: `None`.
    pub fn take(&self, dir: &Path) -> Result<Option<HeldClaim>> {
        if let Err(error) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), %error, "cannot keep this site's claim: another site on this machine with the same settings would go unnoticed");
            return Ok(None);
        }
        // One site at a time looks and writes.
        let guard_path = dir.join(".lock");
        let guard = File::create(&guard_path).map_err(|e| io("opening", &guard_path, e))?;
        guard.lock().map_err(|e| io("locking", &guard_path, e))?;
        let own = claim_path(dir, &self.data_dir);
        let entries = std::fs::read_dir(dir).map_err(|e| io("reading", dir, e))?;
        for path in entries.filter_map(|e| Some(e.ok()?.path())) {
            if path.extension().is_none_or(|ext| ext != "claim") {
                continue;
            }
            let Some((other, pid)) = live_claim(&path)? else {
                // Its gateway is gone.
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let whose = format!("the site in {} (pid {pid})", other.data_dir.display());
            if path == own {
                return Err(Error::Unavailable(format!(
                    "{whose} is running already: one gateway per site on a machine"
                )));
            }
            if let Some(clash) = self.clash(&other) {
                return Err(Error::Unavailable(format!(
                    "another Skyport site runs on this machine, {whose}: {clash}. Sites on one \
                     machine need their own [network] segment_range and public_pool and their \
                     own [compute] network and bridge (docs/networking.md)"
                )));
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&own)
            .map_err(|e| io("opening", &own, e))?;
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => Error::Unavailable(format!("{} is held", own.display())),
            TryLockError::Error(e) => io("locking", &own, e),
        })?;
        file.set_len(0)
            .and_then(|()| file.write_all(self.text().as_bytes()))
            .map_err(|e| io("writing", &own, e))?;
        Ok(Some(HeldClaim { _file: file }))
    }
}

/// The claim in `path` and its pid, if its gateway still holds it.
fn live_claim(path: &Path) -> Result<Option<(SiteClaim, String)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("opening", path, e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| io("reading", path, e))?;
            Ok(Some(SiteClaim::parse(&text)))
        }
        Err(TryLockError::Error(e)) => Err(io("locking", path, e)),
    }
}

/// The pid of the running gateway of the site in `data_dir`, if one runs.
pub fn running(dir: &Path, data_dir: &Path) -> Result<Option<String>> {
    Ok(live_claim(&claim_path(dir, data_dir))?.map(|(_, pid)| pid))
}

/// Forgets the (stale) claim of the site in `data_dir`.
pub fn forget(dir: &Path, data_dir: &Path) {
    let _ = std::fs::remove_file(claim_path(dir, data_dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(data_dir: &str, segments: RangeInclusive<i64>, pool: &str) -> SiteClaim {
        SiteClaim {
            data_dir: data_dir.into(),
            segments: Some(segments),
            public_pool: Some(pool.parse().unwrap()),
            libvirt_network: Some(format!("net-{data_dir}")),
            bridge: Some(format!("br-{data_dir}")),
        }
    }

    #[test]
    fn clashing_sites_are_refused_while_the_first_runs() {
        let dir = tempfile::tempdir().unwrap();
        let first = site("a", 1000..=1999, "203.0.113.0/24")
            .take(dir.path())
            .unwrap()
            .unwrap();
        assert_eq!(
            running(dir.path(), Path::new("a")).unwrap(),
            Some(std::process::id().to_string())
        );
        let refused = |claim: SiteClaim| claim.take(dir.path()).unwrap_err().to_string();
        let overlap = refused(site("b", 1500..=2500, "198.51.100.0/24"));
        assert!(
            overlap.contains("segment_range [1500, 2500] overlaps its [1000, 1999]")
                && overlap.contains("the site in a (pid"),
            "{overlap}"
        );
        let pool = refused(site("b", 2000..=2999, "203.0.113.128/25"));
        assert!(
            pool.contains("public_pool 203.0.113.128/25 overlaps its 203.0.113.0/24"),
            "{pool}"
        );
        let mut same_network = site("b", 2000..=2999, "198.51.100.0/24");
        same_network.libvirt_network = Some("net-a".into());
        assert!(refused(same_network).contains("[compute] network 'net-a'"));
        assert!(refused(site("a", 5000..=5999, "192.0.2.0/24")).contains("running already"));
        // Apart in everything: both run.
        let second = site("b", 2000..=2999, "198.51.100.0/24")
            .take(dir.path())
            .unwrap()
            .unwrap();
        drop((first, second));
        // Gone, the first's claim no longer stands in the way.
        assert_eq!(running(dir.path(), Path::new("a")).unwrap(), None);
        assert!(site("c", 1000..=1999, "203.0.113.0/24")
            .take(dir.path())
            .unwrap()
            .is_some());
        // Nowhere to keep claims: the site runs unclaimed.
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert!(site("d", 1..=2, "192.0.2.0/24")
            .take(&file.join("sites"))
            .unwrap()
            .is_none());
    }
}
