//! Compute as a backend sees it: the [`Compute`] trait and the values it trades.
//!
//! IDs here are the *target's* IDs (`remote_id`); accounts maps them to the
//! IDs Skyport shows its tenants. A backend never sees a tenant's Skyport IDs.

use async_trait::async_trait;

use crate::error::Result;
use crate::types::{Rule, Tag};

/// EC2's instance lifecycle, with AWS's state codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    /// AWS's numeric state code (the low byte).
    pub fn code(self) -> u16 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }

    /// AWS's state name (`running`, `shutting-down`…).
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }

    /// Whether the instance is on its way to another state (pending,
    /// stopping, shutting-down).
    pub fn is_transitional(self) -> bool {
        matches!(
            self,
            InstanceState::Pending | InstanceState::Stopping | InstanceState::ShuttingDown
        )
    }

    /// Parses an AWS state name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            InstanceState::Pending,
            InstanceState::Running,
            InstanceState::ShuttingDown,
            InstanceState::Terminated,
            InstanceState::Stopping,
            InstanceState::Stopped,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

/// What to launch. `key_name` and `security_group_ids` are already the target's
/// names (accounts imports keys first).
#[derive(Debug, Clone, Default)]
pub struct LaunchSpec {
    pub image_id: String,
    pub instance_type: String,
    pub count: u32,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<String>,
    /// Base64, as the client sent it.
    pub user_data: Option<String>,
    pub availability_zone: Option<String>,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
    /// This site's instances on a tenant subnet: where to plug them and with
    /// which address (one per instance, in launch order). `None` = the
    /// target's own network (remote clouds; this site without tenant networks).
    pub network: Option<NetworkAttachment>,
}

/// A tenant subnet as compute sees it: the subnet's bridge on every host and
/// the MAC and address each new instance gets (the subnet's DHCP server
/// holds the same pairs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAttachment {
    pub bridge: String,
    /// The segment's MTU when it is smaller than Ethernet's (VXLAN).
    pub mtu: Option<u32>,
    pub interfaces: Vec<Interface>,
}

/// One instance's interface on a tenant subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub mac: String,
    pub ip: String,
}

/// An instance as its target reports it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub remote_id: String,
    pub state: InstanceState,
    pub instance_type: String,
    pub image_id: String,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub private_dns: Option<String>,
    pub key_name: Option<String>,
    /// RFC 3339, as the target reported it.
    pub launch_time: Option<String>,
    pub architecture: Option<String>,
    /// The tags the target holds for it.
    pub tags: Vec<Tag>,
}

/// One instance's state before and after a start/stop/terminate.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub remote_id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

/// An image a target offers.
#[derive(Debug, Clone)]
pub struct ImageView {
    pub image_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub state: String,
    pub architecture: Option<String>,
    pub owner_id: Option<String>,
    pub public: bool,
    pub root_device_type: Option<String>,
    pub virtualization_type: Option<String>,
    pub creation_date: Option<String>,
}

/// A compute target: AWS, an EC2-compatible cloud, a peer Skyport, or this
/// site's libvirt hosts. Every method is one round of calls to the target; retries,
/// timeouts and rate limits are the implementation's business.
#[async_trait]
pub trait Compute: Send + Sync {
    /// Launches `spec.count` instances (all or none, as RunInstances does).
    async fn run_instances(&self, spec: &LaunchSpec) -> Result<Vec<InstanceView>>;
    /// The named instances; ones the target no longer knows are simply absent.
    async fn describe_instances(&self, remote_ids: &[String]) -> Result<Vec<InstanceView>>;
    /// Every instance (in any state the target still shows) carrying tag `key`.
    async fn instances_tagged(&self, key: &str) -> Result<Vec<InstanceView>>;
    async fn start_instances(&self, remote_ids: &[String]) -> Result<Vec<StateChange>>;
    async fn stop_instances(&self, remote_ids: &[String], force: bool) -> Result<Vec<StateChange>>;
    async fn reboot_instances(&self, remote_ids: &[String]) -> Result<()>;
    async fn terminate_instances(&self, remote_ids: &[String]) -> Result<Vec<StateChange>>;
    /// The serial console, decoded (not base64), and when it was captured.
    async fn console_output(&self, remote_id: &str) -> Result<(Vec<u8>, Option<String>)>;
    /// Makes sure the target has a key pair `name` holding `public_key` (OpenSSH
    /// format). Idempotent: an existing pair of that name is left alone.
    async fn ensure_key_pair(&self, name: &str, public_key: &str) -> Result<()>;
    /// Makes sure the target has a security group `name` whose ingress rules
    /// are exactly those of `rules` (revoking others, authorizing missing
    /// ones; its egress is left as the target made it), and returns the
    /// target's group ID. Rules naming a group name the target's group ID.
    async fn ensure_security_group(
        &self,
        name: &str,
        description: &str,
        rules: &[Rule],
    ) -> Result<String>;
    /// Changes a stopped instance's type.
    async fn set_instance_type(&self, remote_id: &str, instance_type: &str) -> Result<()>;
    /// Replaces a stopped instance's user data (base64, as clients send it).
    async fn set_user_data(&self, remote_id: &str, user_data: Option<&str>) -> Result<()>;
    /// Images visible to us on the target (`image_ids` empty = all).
    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<ImageView>>;
}
