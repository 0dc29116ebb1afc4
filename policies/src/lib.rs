//! Skyport's placement policies: a TOML format, its validation, and a pure decision function.
//!
//! Admins describe *targets* (clouds, by facts: jurisdiction, prices, SLA, capacity) and
//! *rules* (which requests they match, and how they constrain or rank targets). Callers
//! gather live [`Facts`] (health, utilisation, latency) and call [`decide`], which returns a
//! [`Decision`] holding the chosen target and every reason for it. Nothing here does I/O
//! except reading policy files, and nothing is async. The format is documented in
//! `docs/policies.md`.
//!
//! ```
//! use policies::{decide, Facts, PolicySet, Request, ResourceKind, TargetFacts};
//!
//! let policies = PolicySet::parse("example.toml", r#"
//!     [[target]]
//!     name = "tokyo"
//!     kind = "local"
//!     jurisdiction = { country = "JP" }
//!
//!     [[target]]
//!     name = "virginia"
//!     kind = "aws"
//!     jurisdiction = { country = "US", region = "us-east-1" }
//!
//!     [[rule]]
//!     name = "personal-data-in-japan"
//!     match = { tags = { data-class = "personal" } }
//!     require = { country = ["JP"] }
//! "#)?;
//! let facts = Facts::new()
//!     .with("tokyo", TargetFacts::healthy())
//!     .with("virginia", TargetFacts::healthy());
//! let request = Request::new("acme", "CreateBucket", ResourceKind::Bucket).with_tag("data-class", "personal");
//! let decision = decide(&request, &facts, &policies);
//! assert_eq!(decision.target.as_deref(), Some("tokyo"));
//! println!("{}", decision.explain());
//! # Ok::<(), policies::PolicyError>(())
//! ```

mod decision;
mod error;
mod evaluate;
mod facts;
mod parse;
mod pattern;
mod policy_set;
mod raw;
mod request;
mod rule;
mod store;
mod target;

pub use decision::{Decision, Demotion, DropReason, Dropped, RankStep, Refusal};
pub use error::{Diagnostic, PolicyError};
pub use evaluate::decide;
pub use facts::{Facts, Health, TargetFacts};
pub use pattern::Pattern;
pub use policy_set::{check_files, policy_files, read_sources, PolicySet};
pub use request::{Eligible, Request, ResourceKind};
pub use rule::{Burst, Criterion, Match, OnUnhealthy, Requirements, Rule};
pub use store::PolicyStore;
pub use target::{Capacity, Jurisdiction, PriceTable, Sla, SupportClass, Target, TargetKind};
