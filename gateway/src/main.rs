//! `skyport`: read the command line and configuration, then serve or administer.

use std::io::Write;
use std::path::Path;

use clap::Parser;
use gateway::cli::{Cli, Command, ServeArgs, SiteCommand};
use gateway::config::Config;

fn load_config(args: &ServeArgs) -> Result<Config, String> {
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
    Ok(config)
}

fn main() {
    tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("skyport: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let cli = Cli::parse();
    if !matches!(cli.command, Some(Command::Serve(_)) | None) {
        quiet_on_closed_pipe();
    }
    let code = runtime.block_on(async {
        match cli.command {
            Some(Command::Admin(args)) => gateway::admin::client::run(args).await,
            Some(Command::Policy(command)) => gateway::policy_cli::run(command),
            Some(Command::Site(SiteCommand::Teardown(args))) => match load_config(&args.site) {
                Ok(config) => gateway::site_cli::teardown(&config, args.force).await,
                Err(message) => {
                    eprintln!("skyport: {message}");
                    2
                }
            },
            Some(Command::Serve(args)) => serve(&args).await,
            None => serve(&cli.serve).await,
        }
    });
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// A command-line tool whose reader goes away (`skyport admin … | head`)
/// should end as `cat` does, quietly: Rust ignores SIGPIPE, so every later
/// `println!` would panic on EPIPE. The server keeps ignoring it (its
/// sockets report EPIPE as an error to handle).
fn quiet_on_closed_pipe() {
    // SAFETY: signal() only changes how the process takes SIGPIPE; no
    // handler of ours runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// glibc's malloc keeps freed memory for reuse, per thread arena, and after
/// a large buffer is freed it raises the size above which it maps blocks
/// separately — so the transient buffers of a big response (a describe of
/// thousands of instances) stay in the heap afterwards. A fixed mapping
/// threshold gives them back to the system when freed, and two arenas bound
/// the spread across the runtime's threads. Before any thread exists.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

async fn serve(args: &ServeArgs) -> i32 {
    let config = match load_config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("skyport: {message}");
            return 2;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match gateway::serve(config).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("skyport: {message}");
            1
        }
    }
}
