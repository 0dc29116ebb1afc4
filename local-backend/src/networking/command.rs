//! Running the host tools that build the data plane (`ip`, `bridge`, `nft`,
//! `dnsmasq`), on a host that is either this machine's root network
//! namespace or a named one. Failures carry the tool's own message.

use std::process::Stdio;

use cloud::{Error, Result};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Where a command runs: `None` = the root namespace, else `ip netns exec NS`.
pub type Netns<'a> = Option<&'a str>;

fn command(netns: Netns<'_>, program: &str, args: &[&str]) -> Command {
    match netns {
        None => {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns, program]).args(args);
            command
        }
    }
}

fn describe(netns: Netns<'_>, program: &str, args: &[&str]) -> String {
    let place = netns.map(|ns| format!(" (in {ns})")).unwrap_or_default();
    format!("{program} {}{place}", args.join(" "))
}

/// Runs a command to completion; its stdout on success.
pub async fn run(netns: Netns<'_>, program: &str, args: &[&str]) -> Result<String> {
    run_with_input(netns, program, args, None).await
}

/// Runs a command, feeding `input` on stdin (for `nft -f -`).
pub async fn run_with_input(
    netns: Netns<'_>,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String> {
    let mut child = command(netns, program, args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::internal(format!(
                "starting `{}`: {e}",
                describe(netns, program, args)
            ))
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| Error::internal(format!("feeding {program}: {e}")))?;
    }
    let output = child.wait_with_output().await.map_err(|e| {
        Error::internal(format!("running `{}`: {e}", describe(netns, program, args)))
    })?;
    if !output.status.success() {
        return Err(Error::internal(format!(
            "`{}` failed: {}",
            describe(netns, program, args),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a command whose failure only means "already so" (deleting what is
/// gone, adding what exists); other failures are logged, not returned.
pub async fn run_quietly(netns: Netns<'_>, program: &str, args: &[&str]) {
    if let Err(error) = run(netns, program, args).await {
        tracing::debug!(%error, "ignored");
    }
}

/// Whether a program is installed (on PATH).
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
