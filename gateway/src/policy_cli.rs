//! `skyport policy check|explain`: the policy engine from the command line.

use policies::{decide, Facts, PolicySet, Request, ResourceKind, TargetFacts};

use crate::cli::{ExplainArgs, PolicyCommand};

fn resource_for(action: &str, given: Option<&str>) -> Result<ResourceKind, String> {
    let name = match given {
        Some(name) => name.to_ascii_lowercase(),
        None => {
            let action = action.to_ascii_lowercase();
            let guess = [
                ("instance", "instance"),
                ("volume", "volume"),
                ("snapshot", "snapshot"),
                ("image", "image"),
                ("bucket", "bucket"),
                ("object", "bucket"),
                ("vpc", "network"),
                ("subnet", "network"),
            ]
            .into_iter()
            .find(|(needle, _)| action.contains(needle))
            .map(|(_, kind)| kind);
            guess
                .ok_or_else(|| {
                    format!("cannot tell the resource kind of {action}; pass --resource")
                })?
                .to_string()
        }
    };
    let kind = match name.as_str() {
        "instance" => ResourceKind::Instance,
        "volume" => ResourceKind::Volume,
        "snapshot" => ResourceKind::Snapshot,
        "image" => ResourceKind::Image,
        "bucket" => ResourceKind::Bucket,
        "network" => ResourceKind::Network,
        other => return Err(format!("unknown resource kind '{other}'")),
    };
    Ok(kind)
}

fn explain(args: ExplainArgs) -> Result<String, String> {
    let policies = if args.files.is_empty() {
        PolicySet::load_dir(&args.dir)
    } else {
        PolicySet::load_files(&args.files)
    }
    .map_err(|e| e.to_string())?;
    let mut request = Request::new(
        &args.tenant,
        &args.action,
        resource_for(&args.action, args.resource.as_deref())?,
    );
    for tag in &args.tags {
        let (key, value) = tag
            .split_once('=')
            .ok_or_else(|| format!("--tag {tag}: expected KEY=VALUE"))?;
        request = request.with_tag(key, value);
    }
    if let Some(t) = &args.instance_type {
        request = request.with_instance_type(t);
    }
    if let Some(r) = &args.region {
        request = request.with_region(r);
    }
    if let Some(z) = &args.availability_zone {
        request = request.with_availability_zone(z);
    }
    if let Some(l) = &args.location_constraint {
        request = request.with_location_constraint(l);
    }
    let mut facts = Facts::all_healthy(&policies);
    for name in &args.unhealthy {
        facts.insert(name.clone(), TargetFacts::unhealthy());
    }
    Ok(decide(&request, &facts, &policies).explain())
}

/// Runs a policy command; returns the exit code.
pub fn run(command: PolicyCommand) -> i32 {
    let outcome = match command {
        PolicyCommand::Check { files } => policies::check_files(&files)
            .map(|set| {
                format!(
                    "ok: {} target(s), {} rule(s) in {} file(s)",
                    set.targets().len(),
                    set.rules().len(),
                    files.len()
                )
            })
            .map_err(|e| e.to_string()),
        PolicyCommand::Explain(args) => explain(args),
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}
