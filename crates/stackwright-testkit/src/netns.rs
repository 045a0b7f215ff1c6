//! A throw-away network namespace for running CNI plugins for real (tests/generated.rs).
//!
//! [`NetSandbox::start`] starts one holder process in a new network and mount namespace
//! (`unshare --net --mount --propagation private`): tmpfs on `/run` and `/var/lib` (so
//! `ip netns` and host-local's leases stay inside), `lo` up, and one named namespace
//! `pod` (`/run/netns/pod`) for the "container" side. Everything a plugin does — the
//! bridge, veth pairs, iptables rules — happens inside the holder's namespaces, never on
//! the machine's own network; they vanish when the holder is killed (on drop).
//! Needs root (`CAP_SYS_ADMIN`, `CAP_NET_ADMIN`), `unshare`/`nsenter` (util-linux), `ip`
//! (iproute2) and `iptables`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The named network namespace plugins attach to, as `CNI_NETNS` names it.
pub const POD_NETNS: &str = "/run/netns/pod";

/// Debian's reference plugins (`containernetworking-plugins`), or a panic naming the
/// package, unless `STACKWRIGHT_SKIP_CONFIG_TOOL_TESTS=1` (then `None`). Also `None` with
/// that switch when not root; without it, not being root is a panic too (the plugins need
/// namespaces). `STACKWRIGHT_CNI_PATH` points elsewhere.
pub fn cni_plugins_or_skip() -> Option<PathBuf> {
    let skip = std::env::var(crate::SKIP_CONFIG_TOOLS_ENV).is_ok_and(|v| v == "1");
    let dir = std::env::var_os("STACKWRIGHT_CNI_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/cni"));
    if !dir.join("bridge").is_file() {
        if skip {
            return None;
        }
        panic!(
            "the CNI reference plugins are not in {} and the generated-configuration tests \
             run them: apt-get install -y containernetworking-plugins iptables (cargo xtask test does), \
             or set {}=1 to skip",
            dir.display(),
            crate::SKIP_CONFIG_TOOLS_ENV
        );
    }
    if !is_root() {
        if skip {
            return None;
        }
        panic!(
            "running CNI plugins needs root (network namespaces); run as root or set {}=1 to skip",
            crate::SKIP_CONFIG_TOOLS_ENV
        );
    }
    Some(dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The holder of the namespaces; killed (and so the namespaces removed) on drop.
pub struct NetSandbox {
    holder: Child,
}

impl NetSandbox {
    /// Starts the holder and waits until its namespaces are ready.
    pub fn start() -> NetSandbox {
        let script = "set -e; mount -t tmpfs none /run; mount -t tmpfs none /var/lib; \
                      ip link set lo up; ip netns add pod; echo ready; exec sleep 600";
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare runs (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().unwrap();
            panic!(
                "the network namespace did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        NetSandbox { holder }
    }

    /// `program args…` run inside the holder's network and mount namespaces.
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["--net", "--mount", "--"])
            .arg(program.as_ref());
        c
    }

    /// Runs the CNI plugin `plugin` with `CNI_COMMAND=command` on the pod namespace's
    /// `eth0`, `config` on stdin; its stdout, or its error (exit status, stdout, stderr).
    pub fn cni(
        &self,
        plugin: &Path,
        cni_path: &Path,
        command: &str,
        config: &str,
    ) -> Result<String, String> {
        let mut child = self
            .command(plugin)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", "stackwright-test")
            .env("CNI_NETNS", POD_NETNS)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter runs (util-linux)");
        // A plugin that fails early exits without reading its config: the broken pipe is
        // not the error, its exit status and stderr below are.
        match child.stdin.take().unwrap().write_all(config.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                panic!("writing the config to {}: {e}", plugin.display())
            }
            _ => {}
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{} {command}: {}\n{stdout}{}",
                plugin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for NetSandbox {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
