//! libvirt domain XML for an instance, and the Skyport metadata every domain
//! carries (so a domain alone says which image, type, address and tags it has,
//! and which site launched it).

use std::path::PathBuf;

use quick_xml::escape::{escape, unescape};
use serde::{Deserialize, Serialize};

/// Namespace of Skyport's element in `<metadata>`.
pub const METADATA_URI: &str = "urn:skyport:instance:1";

/// What Skyport records in a domain's `<metadata>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstanceMeta {
    /// The libvirt network of the site that launched it: sites (and tests)
    /// sharing a libvirt host never touch each other's domains.
    pub site: String,
    pub image_id: String,
    pub instance_type: String,
    pub availability_zone: String,
    pub private_ip: String,
    pub mac: String,
    /// The tenant subnet's bridge it is plugged into; `None` = the site's
    /// libvirt network (with a lease there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// RFC 3339.
    pub launch_time: String,
    pub tags: Vec<(String, String)>,
}

/// How the domain boots.
#[derive(Debug, Clone)]
pub enum Boot {
    /// Direct kernel boot.
    Kernel {
        kernel: PathBuf,
        initrd: Option<PathBuf>,
        cmdline: String,
    },
    /// From the root disk.
    Disk,
}

/// Where the instance's interface goes.
#[derive(Debug, Clone)]
pub enum Plug {
    /// The site's libvirt network.
    Network(String),
    /// A tenant subnet's bridge, with the segment's MTU.
    Bridge { bridge: String, mtu: Option<u32> },
}

/// Everything the domain XML needs.
#[derive(Debug, Clone)]
pub struct DomainSpec {
    pub name: String,
    pub domain_type: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub boot: Boot,
    /// qcow2 overlay of the image's disk, if the image has one.
    pub disk: Option<PathBuf>,
    pub plug: Plug,
    pub console_log: PathBuf,
    pub meta: InstanceMeta,
}

fn path(p: &std::path::Path) -> String {
    escape(p.to_string_lossy().as_ref()).into_owned()
}

/// The domain XML. Always a full-virtualisation guest with ACPI (without it the
/// kernel cannot find its tables and StopInstances' ACPI shutdown has nothing
/// to press), the serial console logged to a file for GetConsoleOutput, and a
/// reboot that restarts the guest in place.
pub fn domain_xml(spec: &DomainSpec) -> String {
    let meta = serde_json::to_string(&spec.meta).unwrap_or_default();
    let os = match &spec.boot {
        Boot::Kernel {
            kernel,
            initrd,
            cmdline,
        } => {
            let initrd = initrd
                .as_ref()
                .map(|i| format!("<initrd>{}</initrd>", path(i)))
                .unwrap_or_default();
            format!(
                "<kernel>{}</kernel>{initrd}<cmdline>{}</cmdline>",
                path(kernel),
                escape(cmdline)
            )
        }
        Boot::Disk => "<boot dev='hd'/>".to_string(),
    };
    let disk = spec
        .disk
        .as_ref()
        .map(|d| {
            format!(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>\
                 <target dev='vda' bus='virtio'/></disk>",
                path(d)
            )
        })
        .unwrap_or_default();
    let source = match &spec.plug {
        Plug::Network(network) => format!(
            "<interface type='network'><source network='{}'/>",
            escape(network)
        ),
        Plug::Bridge { bridge, mtu } => format!(
            "<interface type='bridge'><source bridge='{}'/>{}",
            escape(bridge),
            mtu.map(|m| format!("<mtu size='{m}'/>"))
                .unwrap_or_default()
        ),
    };
    format!(
        "<domain type='{domain_type}'>\
<name>{name}</name>\
<metadata><skyport:instance xmlns:skyport='{METADATA_URI}'>{meta}</skyport:instance></metadata>\
<memory unit='MiB'>{memory}</memory><vcpu>{vcpus}</vcpu>\
<os><type arch='x86_64' machine='pc'>hvm</type>{os}</os>\
<features><acpi/></features>\
<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>\
<devices>{disk}\
{source}<mac address='{mac}'/><model type='virtio'/></interface>\
<serial type='pty'><log file='{log}' append='on'/><target port='0'/></serial>\
<console type='pty'><target type='serial' port='0'/></console>\
<memballoon model='none'/>\
</devices></domain>",
        domain_type = escape(&spec.domain_type),
        name = escape(&spec.name),
        meta = escape(&meta),
        memory = spec.memory_mib,
        vcpus = spec.vcpus,
        mac = escape(&spec.meta.mac),
        log = path(&spec.console_log),
    )
}

/// The `<metadata>` element alone, for `virDomainSetMetadata` (key `skyport`).
pub fn meta_element(meta: &InstanceMeta) -> String {
    let json = serde_json::to_string(meta).unwrap_or_default();
    format!("<instance>{}</instance>", escape(&json))
}

/// Reads Skyport's metadata back from what `virDomainGetMetadata` returns (the
/// element with its JSON text); None for domains that are not Skyport's.
pub fn parse_meta(element: &str) -> Option<InstanceMeta> {
    let start = element.find('>')? + 1;
    let end = element.rfind("</")?;
    let text = unescape(element.get(start..end)?).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DomainSpec {
        DomainSpec {
            name: "skyport-0123".into(),
            domain_type: "qemu".into(),
            vcpus: 1,
            memory_mib: 256,
            boot: Boot::Kernel {
                kernel: "/img/kernel".into(),
                initrd: Some("/img/initrd".into()),
                cmdline: "console=ttyS0 a=<b>".into(),
            },
            disk: None,
            plug: Plug::Network("skyport-local".into()),
            console_log: "/inst/console.log".into(),
            meta: InstanceMeta {
                site: "skyport-local".into(),
                image_id: "ami-1".into(),
                instance_type: "t3.nano".into(),
                availability_zone: "local-1a".into(),
                private_ip: "10.251.0.2".into(),
                mac: "52:54:00:00:00:01".into(),
                bridge: None,
                launch_time: "2026-11-26T00:00:00Z".into(),
                tags: vec![("Name".into(), "a \"<web>\" & b".into())],
            },
        }
    }

    #[test]
    fn xml_escapes_values_and_metadata_reads_back() {
        let spec = spec();
        let xml = domain_xml(&spec);
        assert!(xml.starts_with("<domain type='qemu'>"));
        assert!(xml.contains("<cmdline>console=ttyS0 a=&lt;b&gt;</cmdline>"));
        assert!(xml.contains("<initrd>/img/initrd</initrd>"));
        assert!(!xml.contains("<disk"));
        // libvirt hands the element back with its own namespace declaration.
        let start = xml.find("<skyport:instance").unwrap();
        let end = xml.find("</skyport:instance>").unwrap() + "</skyport:instance>".len();
        let element = xml[start..end].replace("skyport:instance", "instance");
        assert_eq!(parse_meta(&element), Some(spec.meta));
        assert_eq!(parse_meta("<instance xmlns='x'>not json</instance>"), None);
    }

    #[test]
    fn disk_images_boot_from_their_overlay() {
        let mut spec = spec();
        spec.boot = Boot::Disk;
        spec.disk = Some("/inst/root.qcow2".into());
        let xml = domain_xml(&spec);
        assert!(xml.contains("<boot dev='hd'/>"));
        assert!(xml.contains("<source file='/inst/root.qcow2'/>"));
    }

    #[test]
    fn tenant_subnets_plug_into_their_bridge() {
        let mut spec = spec();
        assert!(domain_xml(&spec).contains("<interface type='network'><source network='skyport-local'/><mac address='52:54:00:00:00:01'/>"));
        spec.plug = Plug::Bridge {
            bridge: "skb1001".into(),
            mtu: Some(1450),
        };
        let xml = domain_xml(&spec);
        assert!(xml.contains("<interface type='bridge'><source bridge='skb1001'/><mtu size='1450'/><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>"), "{xml}");
    }
}
