//! Command-line interface: `skyport [serve]` and `skyport admin …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Skyport: one EC2- and S3-compatible endpoint in front of your clouds.
#[derive(Debug, Parser)]
#[command(name = "skyport", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve(ServeArgs),
    /// Administer tenants, users, keys and quotas through a running gateway.
    Admin(AdminArgs),
    /// Validate placement policy files and explain decisions (no gateway needed).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// This site on this machine, with its gateway stopped.
    #[command(subcommand)]
    Site(SiteCommand),
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Remove everything this site made on this machine: tenant networks'
    /// routers, DHCP servers, bridges, nftables tables and Open vSwitch
    /// bridges, the libvirt network and the metadata rule. Run it with the
    /// gateway stopped and the configuration `skyport serve` used; refused
    /// while the site has instances here, unless --force. The data directory stays.
    Teardown(TeardownArgs),
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// The site's configuration, as `skyport serve` takes it.
    #[command(flatten)]
    pub site: ServeArgs,
    /// Destroy the site's instances on this machine too (their disks stay).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum PolicyCommand {
    /// Validate policy files; errors are printed as file:line:column: message.
    Check {
        /// Policy files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show the decision and its reasons for a hypothetical request.
    Explain(ExplainArgs),
}

/// A hypothetical request for `skyport policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Directory of policy files.
    #[arg(long, env = "SKYPORT_POLICY_DIR", default_value = "./policies.d")]
    pub dir: PathBuf,
    /// Policy files instead of a directory.
    #[arg(long = "file")]
    pub files: Vec<PathBuf>,
    #[arg(long)]
    pub tenant: String,
    /// EC2 or S3 action, e.g. RunInstances, CreateBucket.
    #[arg(long)]
    pub action: String,
    /// Resource kind (instance, volume, snapshot, image, bucket, network); default from the action.
    #[arg(long)]
    pub resource: Option<String>,
    /// A tag KEY=VALUE (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long)]
    pub instance_type: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub availability_zone: Option<String>,
    #[arg(long)]
    pub location_constraint: Option<String>,
    /// Mark a target unhealthy (repeatable); all others count as healthy.
    #[arg(long = "unhealthy")]
    pub unhealthy: Vec<String>,
}

/// Flags of `skyport serve`; each overrides skyport.toml and has a `SKYPORT_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (default: ./skyport.toml when it exists).
    #[arg(long, env = "SKYPORT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8773 (port 0 picks a free port).
    #[arg(long, env = "SKYPORT_BIND")]
    pub bind: Option<SocketAddr>,
    /// Data directory.
    #[arg(long, env = "SKYPORT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…).
    #[arg(long, env = "SKYPORT_DATABASE")]
    pub database: Option<String>,
    /// Master key file for sealing secrets.
    #[arg(long, env = "SKYPORT_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Region name this site reports.
    #[arg(long, env = "SKYPORT_REGION")]
    pub region: Option<String>,
    /// Base domain for virtual-host-style S3.
    #[arg(long, env = "SKYPORT_S3_BASE_DOMAIN")]
    pub s3_base_domain: Option<String>,
    /// Log filter, e.g. info or debug.
    #[arg(long, env = "SKYPORT_LOG")]
    pub log: Option<String>,
    /// Directory of placement policy files.
    #[arg(long, env = "SKYPORT_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Use local libvirt compute (`[compute] enabled`): true or false.
    #[arg(long, env = "SKYPORT_COMPUTE")]
    pub compute: Option<bool>,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Gateway endpoint (default: the one the gateway wrote into
    /// <data-dir>/aws/config, else `bind` of the configuration).
    #[arg(long, env = "SKYPORT_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The gateway's configuration, as `skyport serve` takes it (default:
    /// ./skyport.toml when it exists); its data_dir holds the admin key.
    #[arg(long, env = "SKYPORT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory whose aws/credentials holds the admin key (used when no
    /// key is given); overrides the configuration's data_dir.
    #[arg(long, env = "SKYPORT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Admin access key ID (default: the `skyport` profile in <data-dir>/aws/credentials).
    #[arg(long, env = "SKYPORT_ADMIN_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    /// Admin secret access key.
    #[arg(long, env = "SKYPORT_ADMIN_SECRET_ACCESS_KEY")]
    pub secret_access_key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users of a tenant.
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Per-tenant quotas.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Where resources were placed and why.
    #[command(subcommand)]
    Placement(PlacementCommand),
    /// The placement policies in force (generation, files, last refused edit).
    #[command(subcommand)]
    Policy(AdminPolicyCommand),
    /// Placement targets and their health.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Images of this site's compute, and remote targets' images shared with tenants.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Tenant networks' plumbing on the hosts.
    #[command(subcommand)]
    Network(NetworkCommand),
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Bridges, segments, router addresses, leases and NAT rules of a VPC on each host.
    Show { vpc: String },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Let a tenant see and launch an image of a remote target's account that
    /// the target does not publish publicly (tenants see only public ones).
    Share {
        /// The image's ID on the target (`ami-…`).
        image: String,
        /// The remote target holding it.
        #[arg(long)]
        target: String,
        #[arg(long)]
        tenant: String,
    },
    /// Take a share back.
    Unshare {
        image: String,
        #[arg(long)]
        target: String,
        #[arg(long)]
        tenant: String,
    },
    /// List the remote images shared with tenants.
    Shares,
    /// Import a bootable image: a kernel (+ initrd, command line) for direct
    /// boot, and/or a qcow2/raw root disk. The files are uploaded to the
    /// gateway (streamed, with progress on stderr).
    Import {
        /// The image's name (unique per owner).
        #[arg(long)]
        name: String,
        /// Kernel for direct boot.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Initial ramdisk (with --kernel).
        #[arg(long)]
        initrd: Option<PathBuf>,
        /// Root disk (qcow2 or raw); cloned copy-on-write per instance.
        #[arg(long)]
        disk: Option<PathBuf>,
        /// Kernel command line (default: console=ttyS0 quiet panic=-1).
        #[arg(long)]
        cmdline: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Owning tenant.
        #[arg(long, default_value = "admin")]
        tenant: String,
        /// Launchable by every tenant.
        #[arg(long)]
        public: bool,
        #[arg(long, default_value = "x86_64")]
        architecture: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlacementCommand {
    /// Show the recorded decision for a resource (instance ID or bucket name).
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AdminPolicyCommand {
    /// Show the policies in force and the last refused edit.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// List targets with health and latency.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (with its default security group).
    Create { name: String },
    /// List tenants.
    List,
    /// Delete a tenant and all its records (refused while it owns buckets).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        name: String,
        /// Give the user admin rights (only meaningful in the `admin` tenant).
        #[arg(long)]
        admin: bool,
    },
    /// List a tenant's users.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Delete a user and its keys.
    Delete {
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key (and the user, if new). Prints the secret once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "default")]
        user: String,
    },
    /// List a tenant's keys.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key.
    Revoke { access_key_id: String },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Show a tenant's quotas.
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Set a tenant's quotas (omitted limits become unlimited).
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        instances: Option<i64>,
        #[arg(long)]
        vcpus: Option<i64>,
        #[arg(long)]
        volume_gib: Option<i64>,
        #[arg(long)]
        buckets: Option<i64>,
        #[arg(long)]
        stored_bytes: Option<i64>,
    },
}
