//! What `stackwright-init` does at boot: the file `/etc/stackwright/boot.json`, rendered
//! from the plan by `stackwright-render` and read by the init ([`BootPlan`]), the
//! manifest's `[service]` section it is made from ([`Service`]), and the status events the
//! init reports on its status channel ([`Event`]).
//!
//! Plain data: serialising and parsing only.

use serde::{Deserialize, Serialize};

/// Where the plan lives in the root filesystem.
pub const BOOT_PLAN_PATH: &str = "etc/stackwright/boot.json";
/// The format version written into [`BootPlan::version`].
pub const BOOT_PLAN_VERSION: u32 = 1;

/// `/etc/stackwright/boot.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootPlan {
    /// [`BOOT_PLAN_VERSION`].
    pub version: u32,
    /// Set as the host name (the platform's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The OCI runtime the containers run with (`/usr/bin/runc`, as LinuxKit lays it out).
    pub runtime: String,
    /// Run one after another, each to its end, before any service.
    #[serde(default)]
    pub onboot: Vec<Unit>,
    /// Dependency levels: a level starts when every service of the level before is ready.
    #[serde(default)]
    pub services: Vec<Vec<Unit>>,
    /// Run one after another on poweroff or reboot, in this order.
    #[serde(default)]
    pub onshutdown: Vec<Unit>,
}

/// One container the init runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// The container's name (LinuxKit's `name`): console prefix, log file, runtime id.
    pub name: String,
    /// The OCI bundle (`config.json` + `rootfs/`), e.g. `/containers/services/sshd`.
    pub bundle: String,
    /// Services only: how they say they are up, restart policy and backoff.
    #[serde(default, skip_serializing_if = "Service::is_default")]
    pub service: Service,
}

/// A manifest's `[service]` section (also what boot.json carries per service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// How the init knows the service is up; `None`: as soon as it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<Ready>,
    /// Seconds to wait for `ready` before reporting the service not ready and going on.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: u32,
    #[serde(default)]
    pub restart: Restart,
    /// Restarts allowed by `on-failure` before the service counts as failed.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Milliseconds before the first restart; doubled after each, up to `backoff_max_ms`.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u32,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u32,
}

fn default_ready_timeout() -> u32 {
    30
}
fn default_max_restarts() -> u32 {
    5
}
fn default_backoff_ms() -> u32 {
    500
}
fn default_backoff_max_ms() -> u32 {
    30_000
}

impl Default for Service {
    fn default() -> Self {
        Service {
            ready: None,
            ready_timeout: default_ready_timeout(),
            restart: Restart::default(),
            max_restarts: default_max_restarts(),
            backoff_ms: default_backoff_ms(),
            backoff_max_ms: default_backoff_max_ms(),
        }
    }
}

impl Service {
    pub fn is_default(&self) -> bool {
        *self == Service::default()
    }

    /// The delay before restart number `attempt` (1-based): `backoff_ms` doubled per
    /// earlier restart, capped at `backoff_max_ms`.
    pub fn backoff(&self, attempt: u32) -> u64 {
        let base = u64::from(self.backoff_ms);
        let shifted = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(32));
        shifted.min(u64::from(self.backoff_max_ms.max(self.backoff_ms)))
    }

    /// Problems a manifest author must fix (the section parsed, but says nothing useful).
    pub fn problems(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(r) = &self.ready {
            match r {
                Ready::File { file } | Ready::Unix { unix: file } if !file.starts_with('/') => {
                    v.push(format!("ready path `{file}` must be absolute"))
                }
                Ready::Tcp { tcp: 0 } => v.push("ready tcp port 0 is not a port".into()),
                Ready::Command { command } if command.is_empty() => {
                    v.push("ready command is empty".into())
                }
                _ => {}
            }
        }
        if self.ready_timeout == 0 {
            v.push("ready_timeout must be at least 1 second".into());
        }
        v
    }
}

/// A readiness check: `{ file = "/run/x.ready" }`, `{ unix = "/run/x.sock" }`,
/// `{ tcp = 8080 }` (127.0.0.1), `{ command = ["/bin/check"] }` (exit 0 = ready). Paths
/// and commands are the host's (the init's root), polled until ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Ready {
    File { file: String },
    Unix { unix: String },
    Tcp { tcp: u16 },
    Command { command: Vec<String> },
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::File { file } => write!(f, "file {file}"),
            Ready::Unix { unix } => write!(f, "unix socket {unix}"),
            Ready::Tcp { tcp } => write!(f, "tcp 127.0.0.1:{tcp}"),
            Ready::Command { command } => write!(f, "command `{}`", command.join(" ")),
        }
    }
}

/// When a service that exited is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never; a non-zero exit is a failure.
    #[default]
    Never,
    /// After a non-zero exit, up to `max_restarts` times; then a failure.
    OnFailure,
    /// After any exit, without limit.
    Always,
}

/// Which part of the boot a container belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The init's own setup before any container (the network `stackwright.ip=` asks for).
    Setup,
    Onboot,
    Service,
    Onshutdown,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Setup => "setup",
            Stage::Onboot => "onboot",
            Stage::Service => "service",
            Stage::Onshutdown => "onshutdown",
        })
    }
}

/// One line (JSON) on the init's status channel (the second serial port, `/dev/ttyS1`),
/// read by `stackwright run`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The init started and read its plan.
    Boot {
        units: usize,
    },
    Started {
        stage: Stage,
        name: String,
    },
    /// A service's readiness check passed (or it has none).
    Ready {
        name: String,
    },
    /// A container ended. `code` for an exit, `signal` when killed.
    Exited {
        stage: Stage,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },
    Restarting {
        name: String,
        attempt: u32,
        delay_ms: u64,
    },
    /// Something that makes the boot fail: an onboot container that did not exit 0, a
    /// service that crashed and will not be restarted, a readiness timeout, a container the
    /// runtime could not start.
    Failed {
        stage: Stage,
        name: String,
        reason: String,
    },
    /// Every service level was started.
    ServicesStarted,
    /// Shutting down (`poweroff`, `reboot`, `halt`), with the failures seen so far.
    Shutdown {
        action: String,
        failures: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Service {
            backoff_ms: 100,
            backoff_max_ms: 350,
            ..Service::default()
        };
        assert_eq!(
            (1..=4).map(|a| s.backoff(a)).collect::<Vec<_>>(),
            vec![100, 200, 350, 350]
        );
        assert_eq!(s.backoff(200), 350);
    }

    #[test]
    fn ready_forms_parse() {
        let r: Vec<Ready> =
            serde_json::from_str(r#"[{"file":"/a"},{"unix":"/s"},{"tcp":80},{"command":["x"]}]"#)
                .unwrap();
        assert_eq!(r[2], Ready::Tcp { tcp: 80 });
        assert_eq!(r[3].to_string(), "command `x`");
        assert!(serde_json::from_str::<Ready>(r#"{"udp":1}"#).is_err());
    }

    #[test]
    fn events_round_trip() {
        let e = Event::Exited {
            stage: Stage::Onboot,
            name: "x".into(),
            code: Some(3),
            signal: None,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"event":"exited","stage":"onboot","name":"x","code":3}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&s).unwrap(), e);
    }

    #[test]
    fn problems_are_named() {
        let s = Service {
            ready: Some(Ready::File {
                file: "run/x".into(),
            }),
            ready_timeout: 0,
            ..Service::default()
        };
        assert_eq!(s.problems().len(), 2);
        assert!(Service::default().problems().is_empty());
    }
}
