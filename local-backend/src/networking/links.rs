//! What links a host has now, read once per pass with `ip -j link show` so
//! convergence only adds what is missing and removes what is stale.

use std::collections::HashMap;

use cloud::{Error, Result};
use serde::Deserialize;

use super::command::{run, Netns};

/// One link as `ip -j link show` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    pub ifname: String,
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
}

/// The links of a host by name.
pub async fn links(netns: Netns<'_>) -> Result<HashMap<String, Link>> {
    let json = run(netns, "ip", &["-j", "link", "show"]).await?;
    let links: Vec<Link> = serde_json::from_str(&json)
        .map_err(|e| Error::internal(format!("reading `ip -j link show`: {e}")))?;
    Ok(links
        .into_iter()
        // Veth ends show as `name@peer`.
        .map(|mut link| {
            if let Some((name, _)) = link.ifname.split_once('@') {
                link.ifname = name.to_string();
            }
            (link.ifname.clone(), link)
        })
        .collect())
}
