//! LinuxKit's per-image fields: how a component's container runs.
//!
//! Field names are exactly those of LinuxKit's schema (`../shared/linuxkit/schema.json`,
//! definition `image`), so a `[container]` table in TOML and an image entry in
//! `linuxkit.yml` read the same. Nested objects LinuxKit passes straight to the OCI runtime
//! spec (`resources`, `runtime`) are kept as JSON values and checked against LinuxKit's
//! schema when rendered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A uid/gid: LinuxKit accepts a number or a name to look up in the image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(i64),
    Name(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdMapping {
    #[serde(rename = "hostID", default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<i64>,
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidmappings: Option<Vec<IdMapping>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gidmappings: Option<Vec<IdMapping>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

macro_rules! container {
    ($( $(#[$m:meta])* $field:ident : $ty:ty = $name:literal ),* $(,)?) => {
        /// LinuxKit's per-image settings (everything but `name` and `image`).
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Container {
            $(
                $(#[$m])*
                #[serde(rename = $name, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl Container {
            /// Every field name, as LinuxKit spells it, in LinuxKit's order.
            pub const FIELDS: &'static [&'static str] = &[$($name),*];

            /// `self` with every field that `over` sets replaced by `over`'s value: the
            /// assembly's settings win over the component's.
            pub fn overlay(&self, over: &Container) -> Container {
                Container {
                    $( $field: over.$field.clone().or_else(|| self.$field.clone()), )*
                }
            }

            /// Whether no field is set.
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )*
            }
        }
    };
}

container! {
    capabilities: Vec<String> = "capabilities",
    capabilities_add: Vec<String> = "capabilities.add",
    ambient: Vec<String> = "ambient",
    mounts: Vec<Mount> = "mounts",
    binds: Vec<String> = "binds",
    binds_add: Vec<String> = "binds.add",
    devices: Vec<Device> = "devices",
    tmpfs: Vec<String> = "tmpfs",
    command: Vec<String> = "command",
    env: Vec<String> = "env",
    cwd: String = "cwd",
    net: String = "net",
    pid: String = "pid",
    ipc: String = "ipc",
    uts: String = "uts",
    userns: String = "userns",
    readonly: bool = "readonly",
    masked_paths: Vec<String> = "maskedPaths",
    readonly_paths: Vec<String> = "readonlyPaths",
    uid: IdOrName = "uid",
    gid: IdOrName = "gid",
    additional_gids: Vec<IdOrName> = "additionalGids",
    no_new_privileges: bool = "noNewPrivileges",
    hostname: String = "hostname",
    oom_score_adj: i64 = "oomScoreAdj",
    rootfs_propagation: String = "rootfsPropagation",
    cgroups_path: String = "cgroupsPath",
    /// OCI `linux.resources`, as LinuxKit passes it through.
    resources: serde_json::Value = "resources",
    sysctl: BTreeMap<String, String> = "sysctl",
    rlimits: Vec<String> = "rlimits",
    uid_mappings: Vec<IdMapping> = "uidMappings",
    gid_mappings: Vec<IdMapping> = "gidMappings",
    annotations: BTreeMap<String, String> = "annotations",
    /// LinuxKit's `runtime` block (cgroups, mounts, mkdir, interfaces, bindNS, namespace).
    runtime: serde_json::Value = "runtime",
}

impl Container {
    /// Whether these settings make the container privileged in the sense of the
    /// `[policy]` rule: all capabilities, or the host PID namespace with CAP_SYS_ADMIN.
    pub fn grants_all_capabilities(&self) -> bool {
        let all = |v: &Option<Vec<String>>| {
            v.as_ref()
                .is_some_and(|c| c.iter().any(|c| c.eq_ignore_ascii_case("all")))
        };
        all(&self.capabilities) || all(&self.capabilities_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_prefers_the_override() {
        let base = Container {
            net: Some("host".into()),
            env: Some(vec!["A=1".into()]),
            ..Default::default()
        };
        let over = Container {
            env: Some(vec!["B=2".into()]),
            ..Default::default()
        };
        let c = base.overlay(&over);
        assert_eq!(c.net.as_deref(), Some("host"));
        assert_eq!(c.env, Some(vec!["B=2".to_string()]));
    }

    #[test]
    fn linuxkit_names_in_toml() {
        let c: Container =
            toml::from_str("\"capabilities.add\" = [\"CAP_SYS_ADMIN\"]\noomScoreAdj = -800\n")
                .unwrap();
        assert_eq!(c.oom_score_adj, Some(-800));
        assert!(toml::from_str::<Container>("oom_score_adj = 1").is_err());
    }
}
