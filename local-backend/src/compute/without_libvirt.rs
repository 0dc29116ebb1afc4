//! A build without the `libvirt` feature: no local compute can exist.
//! [`LibvirtCompute`] keeps its name and surface so the gateway is one code
//! path, but holds an uninhabited value: `open` says why there is none and
//! no method can ever run.

use std::convert::Infallible;
use std::net::SocketAddr;

use async_trait::async_trait;
use cloud::types::Rule;
use cloud::{Compute, Error, ImageView, InstanceView, LaunchSpec, Result, StateChange};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{ComputeConfig, ImageStore};

const WHY: &str = "this skyport was built without libvirt (cargo feature `libvirt`)";

/// Local compute in a build without libvirt: never constructed.
#[derive(Clone)]
pub struct LibvirtCompute {
    never: Infallible,
}

impl LibvirtCompute {
    /// Refuses: there is no libvirt in this build.
    pub fn open(_config: ComputeConfig, _region: &str) -> Result<LibvirtCompute> {
        Err(Error::Unavailable(WHY.into()))
    }

    pub fn take_lifecycle_events(&self) -> Option<UnboundedReceiver<String>> {
        match self.never {}
    }

    pub fn images(&self) -> &ImageStore {
        match self.never {}
    }

    pub fn metadata_addr(&self) -> SocketAddr {
        match self.never {}
    }

    pub fn hosts(&self) -> Vec<String> {
        match self.never {}
    }
}

/// Nothing of a libvirt site can exist on this machine through this build.
pub fn teardown(_config: &ComputeConfig, _force: bool) -> Result<Vec<String>> {
    Err(Error::Unavailable(WHY.into()))
}

#[async_trait]
impl Compute for LibvirtCompute {
    async fn run_instances(&self, _: &LaunchSpec) -> Result<Vec<InstanceView>> {
        match self.never {}
    }
    async fn describe_instances(&self, _: &[String]) -> Result<Vec<InstanceView>> {
        match self.never {}
    }
    async fn instances_tagged(&self, _: &str) -> Result<Vec<InstanceView>> {
        match self.never {}
    }
    async fn start_instances(&self, _: &[String]) -> Result<Vec<StateChange>> {
        match self.never {}
    }
    async fn stop_instances(&self, _: &[String], _: bool) -> Result<Vec<StateChange>> {
        match self.never {}
    }
    async fn reboot_instances(&self, _: &[String]) -> Result<()> {
        match self.never {}
    }
    async fn terminate_instances(&self, _: &[String]) -> Result<Vec<StateChange>> {
        match self.never {}
    }
    async fn console_output(&self, _: &str) -> Result<(Vec<u8>, Option<String>)> {
        match self.never {}
    }
    async fn ensure_key_pair(&self, _: &str, _: &str) -> Result<()> {
        match self.never {}
    }
    async fn ensure_security_group(&self, _: &str, _: &str, _: &[Rule]) -> Result<String> {
        match self.never {}
    }
    async fn set_instance_type(&self, _: &str, _: &str) -> Result<()> {
        match self.never {}
    }
    async fn set_user_data(&self, _: &str, _: Option<&str>) -> Result<()> {
        match self.never {}
    }
    async fn describe_images(&self, _: &[String]) -> Result<Vec<ImageView>> {
        match self.never {}
    }
}
