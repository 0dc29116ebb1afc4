//! Tenant networks on this site's hosts (issue #6): per-subnet L2 segments
//! (the `vxlan` driver on Linux bridges, the `vlan` driver on Open vSwitch),
//! a router namespace per VPC with DHCP and NAT, the site's edge in front of
//! the public pool, security groups, and the
//! settings behind them. [`Fabric::apply`] converges the hosts on a
//! [`cloud::network_plan::Plan`].

mod command;
mod config;
mod dhcp;
mod edge;
mod fabric;
mod firewall;
mod links;
pub mod names;
mod nat;
mod ovs;
mod router;
mod segments;
mod teardown;
mod tenant_networks;

pub use config::{NetHostConfig, NetworkConfig, SegmentDriver};
pub use fabric::{Fabric, NetHost};
pub use segments::VXLAN_MTU;
pub use teardown::teardown;
pub use tenant_networks::{ServeMetadata, TenantNetworks};
