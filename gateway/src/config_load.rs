//! Loading the configuration the way every subcommand sees it: the file
//! (`--config`, else `./skyport.toml`), then flags and `SKYPORT_*` variables,
//! then every path made absolute. `serve`, `site teardown` and `admin` all
//! come through here, so they agree on where the site lives.

use std::path::{Path, PathBuf};

use crate::cli::ServeArgs;
use crate::config::Config;

/// The configuration `args` select, with every path absolute.
pub fn load(args: &ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None if Path::new("skyport.toml").exists() => {
            Config::from_file(Path::new("skyport.toml")).map_err(|e| e.to_string())?
        }
        None => Config::default(),
    };
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(database) = &args.database {
        config.database = database.clone();
    }
    if let Some(path) = &args.master_key_file {
        config.master_key_file = path.clone();
    }
    if let Some(region) = &args.region {
        config.region = region.clone();
    }
    if let Some(domain) = &args.s3_base_domain {
        config.s3_base_domain = domain.clone();
    }
    if let Some(enabled) = args.compute {
        config.compute.enabled = enabled;
    }
    if let Some(dir) = &args.policy_dir {
        config.policy_dir = dir.clone();
    }
    if let Some(log) = &args.log {
        config.log = log.clone();
    }
    let base =
        std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    resolve_paths(&mut config, &base);
    Ok(config)
}

/// Makes every path of the configuration absolute against `base` (the
/// working directory at start). Helper processes (dnsmasq, libvirt, QEMU)
/// run elsewhere — dnsmasq changes to `/` when it daemonizes — so none of
/// them may ever be handed a relative path. Empty paths mean "the default"
/// and stay empty; the defaults derive from `data_dir`, absolute by then.
pub fn resolve_paths(config: &mut Config, base: &Path) {
    let absolute = |path: &mut PathBuf| {
        if !path.as_os_str().is_empty() && path.is_relative() {
            *path = normalize(&base.join(&*path));
        }
    };
    absolute(&mut config.data_dir);
    absolute(&mut config.master_key_file);
    absolute(&mut config.policy_dir);
    absolute(&mut config.compute.instances_dir);
    absolute(&mut config.compute.images_dir);
    absolute(&mut config.network.state_dir);
    for target in config.targets.values_mut() {
        if let Some(file) = &mut target.secret_access_key_file {
            absolute(file);
        }
    }
    config.database = absolute_sqlite_url(&config.database, base);
}

/// `sqlite://relative.db?…` (or `sqlite:relative.db`) with its path made
/// absolute; other URLs and in-memory databases unchanged.
fn absolute_sqlite_url(url: &str, base: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_string();
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with('/') || path.starts_with(":memory:") {
        return url.to_string();
    }
    let path = normalize(&base.join(path));
    match query {
        Some(query) => format!("sqlite://{}?{query}", path.display()),
        None => format!("sqlite://{}", path.display()),
    }
}

/// Drops `.` components (`/repo/./skyport-data` → `/repo/skyport-data`), so
/// logs and the client profile show the path a user would write. `..` stays:
/// removing it is only right without symlinks.
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_becomes_absolute() {
        let mut config: Config = toml::from_str(
            "data_dir = \"./skyport-data\"\nmaster_key_file = \"keys/master.key\"\n\
             policy_dir = \"policies.d\"\ndatabase = \"sqlite://./db/skyport.db?mode=rwc\"\n\
             [compute]\nimages_dir = \"img\"\ninstances_dir = \"./inst\"\n\
             [network]\nstate_dir = \"net\"\n\
             [targets.cloud]\nregion = \"us-east-1\"\naccess_key_id = \"AK\"\n\
             secret_access_key_file = \"cloud.secret\"\n",
        )
        .unwrap();
        resolve_paths(&mut config, Path::new("/srv/site"));
        assert_eq!(config.data_dir, Path::new("/srv/site/skyport-data"));
        assert_eq!(
            config.master_key_file,
            Path::new("/srv/site/keys/master.key")
        );
        assert_eq!(config.policy_dir, Path::new("/srv/site/policies.d"));
        assert_eq!(config.compute.images_dir, Path::new("/srv/site/img"));
        assert_eq!(config.compute.instances_dir, Path::new("/srv/site/inst"));
        assert_eq!(config.network.state_dir, Path::new("/srv/site/net"));
        assert_eq!(
            config.targets["cloud"].secret_access_key_file.as_deref(),
            Some(Path::new("/srv/site/cloud.secret"))
        );
        assert_eq!(
            config.database_url(),
            "sqlite:///srv/site/db/skyport.db?mode=rwc"
        );
    }

    #[test]
    fn defaults_derive_from_the_absolute_data_dir() {
        let mut config = Config::default();
        resolve_paths(&mut config, Path::new("/srv/site"));
        assert!(
            config.policy_dir.as_os_str().is_empty(),
            "empty stays empty"
        );
        assert_eq!(
            config.database_url(),
            "sqlite:///srv/site/skyport-data/skyport.db?mode=rwc"
        );
        assert_eq!(
            config.master_key_path(),
            Path::new("/srv/site/skyport-data/master.key")
        );
        assert_eq!(
            config.network_state_dir(),
            Path::new("/srv/site/skyport-data/network")
        );
        let compute = config.compute();
        assert_eq!(
            compute.images_dir,
            Path::new("/srv/site/skyport-data/images")
        );
        assert_eq!(
            compute.instances_dir,
            Path::new("/srv/site/skyport-data/instances")
        );
    }

    #[test]
    fn absolute_paths_and_other_databases_stay() {
        let mut config: Config = toml::from_str(
            "data_dir = \"/var/lib/skyport\"\ndatabase = \"postgres://u@h:5432/db\"\n",
        )
        .unwrap();
        resolve_paths(&mut config, Path::new("/srv/site"));
        assert_eq!(config.data_dir, Path::new("/var/lib/skyport"));
        assert_eq!(config.database, "postgres://u@h:5432/db");
        assert_eq!(
            absolute_sqlite_url("sqlite::memory:", Path::new("/x")),
            "sqlite::memory:"
        );
        assert_eq!(
            absolute_sqlite_url("sqlite:db.sqlite", Path::new("/x")),
            "sqlite:///x/db.sqlite"
        );
    }

    #[test]
    fn flags_override_the_file_and_are_resolved_too() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("skyport.toml");
        std::fs::write(&file, "data_dir = \"/from/file\"\nregion = \"eu-west-1\"\n").unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        };
        let config = load(&args).unwrap();
        assert_eq!(config.data_dir, Path::new("/from/file"));
        assert_eq!(config.region, "eu-west-1");
        let args = ServeArgs {
            config: Some(file),
            data_dir: Some(PathBuf::from("rel/data")),
            ..ServeArgs::default()
        };
        let config = load(&args).unwrap();
        assert!(config.data_dir.is_absolute(), "{:?}", config.data_dir);
        assert!(config.data_dir.ends_with("rel/data"));
    }
}
