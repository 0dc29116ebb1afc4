//! `skyport`: read the command line and configuration, then serve or administer.

use std::io::Write;
use std::path::Path;

use clap::Parser;
use gateway::cli::{Cli, Command, ServeArgs};
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

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Admin(args)) => gateway::admin::client::run(args).await,
        Some(Command::Policy(command)) => gateway::policy_cli::run(command),
        Some(Command::Serve(args)) => serve(&args).await,
        None => serve(&cli.serve).await,
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
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
