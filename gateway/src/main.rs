//! `skyport`: read the command line and configuration, then serve or administer.

use std::io::Write;

use clap::Parser;
use gateway::cli::{Cli, Command, ServeArgs, SiteCommand};

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
            Some(Command::Site(SiteCommand::Teardown(args))) => {
                match gateway::config_load::load(&args.site) {
                    Ok(config) => gateway::site_cli::teardown(&config, args.force).await,
                    Err(message) => {
                        eprintln!("skyport: {message}");
                        2
                    }
                }
            }
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
    let config = match gateway::config_load::load(args) {
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
