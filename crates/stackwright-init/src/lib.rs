//! `stackwright-init`: Stackwright's own init.
//!
//! As PID 1 it mounts what a container host needs ([`sys::MOUNTS`]), sets the host name,
//! brings up the loopback interface, then applies the plan in `/etc/stackwright/boot.json`
//! ([`BootPlan`], rendered by Stackwright from the solver's start order):
//!
//! 1. onboot containers one by one, each to its end, with the platform's OCI runtime
//!    (`runc run --bundle /containers/onboot/NNN-name name`);
//! 2. services level by level: a level starts when every service of the level before is
//!    ready (its `[service] ready` check passed, or it started when it has none); services
//!    that exit are restarted per their policy, with doubling backoff;
//! 3. on poweroff, reboot or halt (busybox's SIGUSR2, SIGTERM, SIGUSR1; SIGINT for
//!    Ctrl-Alt-Del), services are stopped and the onshutdown containers run in order.
//!
//! Each container's output goes to the console prefixed with its name (`[name] …`) and to
//! `/var/log/<name>.log`. What happens is also reported as JSON lines ([`Event`]) on the
//! status channel (`/dev/ttyS1`), which `stackwright run` reads: a failed onboot container,
//! a service that crashed for good, a service not ready in time are [`Event::Failed`] and
//! never hang the boot.
//!
//! Outside PID 1 ([`Options::pid1`] false) nothing is mounted and nothing is powered off:
//! the same code runs unprivileged under a root directory ([`Options::root`]) with a fake
//! runtime, which is how it is tested.

// PID 1 owns the console: it writes its own lines there, and nobody else would.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(unsafe_code)] // the one unsafe module: its safety model is stated at its top
pub mod sys;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use stackwright_boot_plan::{BootPlan, Event, Ready, Restart, Service, Stage, Unit};
use sys::{Action, Reaper, Status};

/// Errors that stop the init before it runs anything.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a boot plan: {reason}")]
    Plan { path: String, reason: String },
}

/// How the init runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The plan (default `/etc/stackwright/boot.json`, under `root`).
    pub plan: PathBuf,
    /// The root every path of the plan is under (`/` as PID 1).
    pub root: PathBuf,
    /// Where status events go (`/dev/ttyS1` as PID 1); `None`: nowhere.
    pub status: Option<PathBuf>,
    /// Mount, set the host name, raise `lo`, and power off at the end.
    pub pid1: bool,
    /// Shut down once no service is running or waiting to restart (host runs, tests).
    pub exit_when_idle: bool,
}

impl Options {
    /// The defaults for PID 1.
    pub fn pid1() -> Options {
        Options {
            plan: PathBuf::from("/").join(stackwright_boot_plan::BOOT_PLAN_PATH),
            root: PathBuf::from("/"),
            status: Some(PathBuf::from("/dev/ttyS1")),
            pid1: true,
            exit_when_idle: false,
        }
    }
}

/// Reads and checks the plan.
pub fn read_plan(path: &Path) -> Result<BootPlan, InitError> {
    let text = std::fs::read_to_string(path).map_err(|source| InitError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let plan: BootPlan = serde_json::from_str(&text).map_err(|e| InitError::Plan {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if plan.version != stackwright_boot_plan::BOOT_PLAN_VERSION {
        return Err(InitError::Plan {
            path: path.display().to_string(),
            reason: format!(
                "format version {} (this init reads {})",
                plan.version,
                stackwright_boot_plan::BOOT_PLAN_VERSION
            ),
        });
    }
    Ok(plan)
}

/// The console, the logs and the status channel.
struct Report {
    console: Mutex<()>,
    status: Mutex<Option<std::fs::File>>,
    failures: AtomicUsize,
    log_dir: PathBuf,
}

impl Report {
    fn say(&self, line: &str) {
        let _g = self.console.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "stackwright-init: {line}");
        let _ = out.flush();
    }

    fn event(&self, e: &Event) {
        if matches!(e, Event::Failed { .. }) {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = s.as_mut() {
            let mut line = serde_json::to_string(e).unwrap_or_default();
            line.push('\n');
            let _ = f.write_all(line.as_bytes());
            let _ = f.flush();
        }
    }

    fn failed(&self, stage: Stage, name: &str, reason: String) {
        self.say(&format!("FAILED {stage} {name}: {reason}"));
        self.event(&Event::Failed {
            stage,
            name: name.to_string(),
            reason,
        });
    }

    /// Copies one output stream of a container, line by line, to the console (prefixed)
    /// and its log file.
    fn pump(
        self: &Arc<Self>,
        name: &str,
        stream: impl Read + Send + 'static,
        done: std::sync::mpsc::Sender<()>,
    ) {
        let me = self.clone();
        let name = name.to_string();
        std::thread::spawn(move || {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(me.log_dir.join(format!("{name}.log")))
                .ok();
            let mut r = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if buf.last() != Some(&b'\n') {
                    buf.push(b'\n');
                }
                if let Some(l) = log.as_mut() {
                    let _ = l.write_all(&buf);
                }
                let _g = me.console.lock().unwrap_or_else(|e| e.into_inner());
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "[{name}] ");
                let _ = out.write_all(&buf);
                let _ = out.flush();
            }
            let _ = done.send(());
        });
    }
}

/// A container started and being waited for.
struct Running {
    pid: u32,
    done: std::sync::mpsc::Receiver<Status>,
    pumps: std::sync::mpsc::Receiver<()>,
    streams: usize,
}

impl Running {
    /// Waits for the end, and for its last output lines (briefly: a process the container
    /// left behind may hold its output open).
    fn wait(self) -> Status {
        let st = self.done.recv().unwrap_or(Status::Signal(0));
        let until = Instant::now() + Duration::from_secs(1);
        for _ in 0..self.streams {
            let left = until.saturating_duration_since(Instant::now());
            if self.pumps.recv_timeout(left).is_err() {
                break;
            }
        }
        st
    }
}

/// Shared by the main thread and the service supervisors.
struct Ctx {
    root: PathBuf,
    runtime: PathBuf,
    runtime_args: Vec<String>,
    reaper: Arc<Reaper>,
    report: Arc<Report>,
    stopping: AtomicBool,
}

impl Ctx {
    fn under_root(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    /// LinuxKit's `runtime.mkdir`: the directories the bundle's `runtime.json` lists are
    /// created on the host before the container starts (bind sources under the `/run` and
    /// `/var` of a fresh boot do not exist yet, and runc refuses a missing bind source).
    fn make_dirs(&self, unit: &Unit) -> std::io::Result<()> {
        let path = self.under_root(&unit.bundle).join("runtime.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let bad = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let Some(dirs) = v.get("mkdir").filter(|d| !d.is_null()) else {
            return Ok(());
        };
        let dirs = dirs
            .as_array()
            .ok_or_else(|| bad("`mkdir` is not a list".into()))?;
        for d in dirs {
            let d = d
                .as_str()
                .filter(|d| d.starts_with('/') && !d.split('/').any(|p| p == ".."))
                .ok_or_else(|| bad(format!("`mkdir` entry {d} is not an absolute path")))?;
            std::fs::create_dir_all(self.under_root(d))
                .map_err(|e| std::io::Error::new(e.kind(), format!("mkdir {d}: {e}")))?;
        }
        Ok(())
    }

    /// `runtime run [--no-pivot] --bundle <bundle> <name>`, after the bundle's
    /// `runtime.mkdir` directories are made.
    fn start(&self, unit: &Unit) -> std::io::Result<Running> {
        if !self.runtime.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the OCI runtime {} is missing", self.runtime.display()),
            ));
        }
        self.make_dirs(unit)?;
        let mut cmd = Command::new(&self.runtime);
        cmd.arg("run")
            .args(&self.runtime_args)
            .arg("--bundle")
            .arg(self.under_root(&unit.bundle))
            .arg(&unit.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, done) = spawn(&self.reaper, &mut cmd)?;
        let (tx, pumps) = std::sync::mpsc::channel();
        let mut streams = 0;
        if let Some(o) = child.stdout.take() {
            self.report.pump(&unit.name, o, tx.clone());
            streams += 1;
        }
        if let Some(e) = child.stderr.take() {
            self.report.pump(&unit.name, e, tx);
            streams += 1;
        }
        Ok(Running {
            pid: child.id(),
            done,
            pumps,
            streams,
        })
    }

    /// Runs a container to its end (onboot, onshutdown); reports a failure.
    fn run_to_end(&self, stage: Stage, unit: &Unit) {
        self.report.say(&format!("{stage} {}: starting", unit.name));
        let running = match self.start(unit) {
            Ok(r) => r,
            Err(e) => return self.report.failed(stage, &unit.name, e.to_string()),
        };
        self.report.event(&Event::Started {
            stage,
            name: unit.name.clone(),
        });
        let st = running.wait();
        self.report
            .say(&format!("{stage} {}: exited with {st}", unit.name));
        self.report.event(&exited(stage, &unit.name, st));
        if !st.success() {
            self.report
                .failed(stage, &unit.name, format!("exited with {st}"));
        }
    }
}

fn spawn(
    reaper: &Reaper,
    cmd: &mut Command,
) -> std::io::Result<(std::process::Child, std::sync::mpsc::Receiver<Status>)> {
    // std may wait for a child whose exec failed; if the reaper got it first, that is a
    // panic inside std, caught here as an error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reaper.spawn(cmd)))
        .unwrap_or_else(|_| Err(std::io::Error::other("the process could not be started")))
}

fn exited(stage: Stage, name: &str, st: Status) -> Event {
    let (code, signal) = match st {
        Status::Code(c) => (Some(c), None),
        Status::Signal(s) => (None, Some(s)),
    };
    Event::Exited {
        stage,
        name: name.to_string(),
        code,
        signal,
    }
}

/// What a supervisor and the main thread know of one service.
#[derive(Default)]
struct ServiceState {
    started: AtomicBool,
    /// The supervisor ended (the service will not run again).
    done: AtomicBool,
    pid: Mutex<Option<u32>>,
}

fn supervise(ctx: Arc<Ctx>, unit: Unit, state: Arc<ServiceState>) {
    let sv = &unit.service;
    let mut restarts = 0u32;
    loop {
        ctx.report.say(&format!("service {}: starting", unit.name));
        let running = match ctx.start(&unit) {
            Ok(r) => r,
            Err(e) => {
                ctx.report.failed(Stage::Service, &unit.name, e.to_string());
                break;
            }
        };
        *state.pid.lock().unwrap_or_else(|e| e.into_inner()) = Some(running.pid);
        state.started.store(true, Ordering::SeqCst);
        ctx.report.event(&Event::Started {
            stage: Stage::Service,
            name: unit.name.clone(),
        });
        let st = running.wait();
        *state.pid.lock().unwrap_or_else(|e| e.into_inner()) = None;
        ctx.report
            .say(&format!("service {}: exited with {st}", unit.name));
        ctx.report.event(&exited(Stage::Service, &unit.name, st));
        if ctx.stopping.load(Ordering::SeqCst) {
            break;
        }
        let again = match sv.restart {
            Restart::Never => false,
            Restart::OnFailure => !st.success(),
            Restart::Always => true,
        };
        if !again {
            if !st.success() {
                ctx.report.failed(
                    Stage::Service,
                    &unit.name,
                    format!("crashed ({st}); restart = never"),
                );
            }
            break;
        }
        if sv.restart == Restart::OnFailure && restarts >= sv.max_restarts {
            ctx.report.failed(
                Stage::Service,
                &unit.name,
                format!(
                    "crashed ({st}) after {restarts} restart(s); max_restarts = {}",
                    sv.max_restarts
                ),
            );
            break;
        }
        restarts += 1;
        let delay = sv.backoff(restarts);
        ctx.report.say(&format!(
            "service {}: restarting in {delay} ms (restart {restarts})",
            unit.name
        ));
        ctx.report.event(&Event::Restarting {
            name: unit.name.clone(),
            attempt: restarts,
            delay_ms: delay,
        });
        let until = Instant::now() + Duration::from_millis(delay);
        while Instant::now() < until && !ctx.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if ctx.stopping.load(Ordering::SeqCst) {
            break;
        }
    }
    state.done.store(true, Ordering::SeqCst);
}

/// One readiness probe.
fn is_ready(ctx: &Ctx, ready: &Ready) -> bool {
    match ready {
        Ready::File { file } => ctx.under_root(file).exists(),
        Ready::Unix { unix } => {
            std::os::unix::net::UnixStream::connect(ctx.under_root(unix)).is_ok()
        }
        Ready::Tcp { tcp } => std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], *tcp)),
            Duration::from_millis(200),
        )
        .is_ok(),
        Ready::Command { command } => {
            let Some((prog, args)) = command.split_first() else {
                return false;
            };
            let mut cmd = Command::new(prog);
            cmd.args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            match spawn(&ctx.reaper, &mut cmd) {
                Ok((_child, done)) => done.recv().is_ok_and(|s| s.success()),
                Err(_) => false,
            }
        }
    }
}

/// Waits until every service of a level is ready, not ready in time, or gone.
fn await_level(ctx: &Ctx, level: &[(Unit, Arc<ServiceState>)]) {
    let start = Instant::now();
    let mut pending: Vec<usize> = (0..level.len()).collect();
    while !pending.is_empty() {
        pending.retain(|&i| {
            let (unit, state) = &level[i];
            let elapsed = start.elapsed();
            let ready = match &unit.service.ready {
                None => state.started.load(Ordering::SeqCst),
                Some(r) => state.started.load(Ordering::SeqCst) && is_ready(ctx, r),
            };
            if ready {
                match &unit.service.ready {
                    Some(r) => ctx
                        .report
                        .say(&format!("service {}: ready ({r})", unit.name)),
                    None => ctx.report.say(&format!("service {}: ready", unit.name)),
                }
                ctx.report.event(&Event::Ready {
                    name: unit.name.clone(),
                });
                return false;
            }
            if state.done.load(Ordering::SeqCst) && !state.started.load(Ordering::SeqCst) {
                return false; // could not start: already reported
            }
            if state.done.load(Ordering::SeqCst) && unit.service.ready.is_some() {
                ctx.report.failed(
                    Stage::Service,
                    &unit.name,
                    "ended before it was ready".into(),
                );
                return false;
            }
            if elapsed >= Duration::from_secs(u64::from(unit.service.ready_timeout)) {
                let what = unit
                    .service
                    .ready
                    .as_ref()
                    .map_or("started".to_string(), |r| r.to_string());
                ctx.report.failed(
                    Stage::Service,
                    &unit.name,
                    format!("not ready after {} s ({what})", unit.service.ready_timeout),
                );
                return false;
            }
            true
        });
        if ctx.stopping.load(Ordering::SeqCst) {
            return;
        }
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The modules `stackwright.modules=a,b,c` on the kernel command line names, in order.
pub fn modules_asked(cmdline: &str) -> Vec<String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("stackwright.modules="))
        .flat_map(|l| l.split(','))
        .filter(|m| !m.is_empty())
        .map(|m| m.replace('-', "_"))
        .collect()
}

/// `name.ko` anywhere under `dir` (`-` and `_` alike, as modprobe treats them).
pub fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ko"))
                .is_some_and(|n| n.replace('-', "_") == name)
            {
                return Some(p);
            }
        }
    }
    None
}

/// Loads, in the order given, the modules `stackwright.modules=` names (a kernel whose
/// device drivers are modules, e.g. Debian's virtio ones: `stackwright.modules=virtio_ring,
/// virtio,virtio_pci_legacy_dev,virtio_pci_modern_dev,virtio_pci,virtio_blk`),
/// from `/lib/modules/<release>/` (the kernel image's `kernel.tar`). Dependencies are not
/// resolved: list them first. A missing or failing module is said on the console; the
/// boot goes on (what needed it fails visibly).
fn load_modules(report: &Report, cmdline: &str, dir: &Path) {
    for m in modules_asked(cmdline) {
        match find_module(dir, &m).map(|p| (sys::load_module(&p), p)) {
            Some((Ok(()), p)) => report.say(&format!("module {m}: loaded {}", p.display())),
            Some((Err(e), p)) if e.kind() == std::io::ErrorKind::NotFound => report.say(&format!(
                "module {m} ({}): unknown symbols: list the modules it needs before it (the kernel's messages name them)",
                p.display()
            )),
            Some((Err(e), p)) => report.say(&format!("module {m} ({}): {e}", p.display())),
            None => report.say(&format!("module {m}: no {m}.ko under {}", dir.display())),
        }
    }
}

/// The network `stackwright.ip=ADDR/PREFIX[,gw=GATEWAY][,dns=SERVER][,dev=NAME]` on the
/// kernel command line asks for: one static IPv4 address (what `stackwright run qemu`
/// passes for qemu's user network: `10.0.2.15/24,gw=10.0.2.2,dns=10.0.2.3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub addr: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<std::net::Ipv4Addr>,
    pub dns: Vec<std::net::Ipv4Addr>,
    /// The interface; default: the first one that is not `lo`, by name.
    pub dev: Option<String>,
}

/// The driver modules of a virtio NIC, in load order: loaded (those present under
/// `/lib/modules/<release>/`) when `stackwright.ip=` asks for a network and no interface
/// but `lo` exists, as on Debian's cloud kernel, which builds them as modules.
pub const NIC_MODULES: [&str; 8] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

/// `stackwright.ip=` from the kernel command line: `None` when absent, an error naming
/// the bad part when malformed.
pub fn network_asked(cmdline: &str) -> Result<Option<Network>, String> {
    let Some(value) = cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("stackwright.ip="))
        .next_back()
    else {
        return Ok(None);
    };
    let bad = |why: String| {
        format!("stackwright.ip={value}: {why} (write stackwright.ip=ADDR/PREFIX[,gw=GATEWAY][,dns=SERVER][,dev=NAME], e.g. 10.0.2.15/24,gw=10.0.2.2)")
    };
    let ip = |s: &str| {
        s.parse::<std::net::Ipv4Addr>()
            .map_err(|_| bad(format!("`{s}` is not an IPv4 address")))
    };
    let mut parts = value.split(',');
    let first = parts.next().unwrap_or_default();
    let (addr, prefix) = first
        .split_once('/')
        .ok_or_else(|| bad(format!("`{first}` has no /PREFIX")))?;
    let prefix = prefix
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| bad(format!("`/{prefix}` is not a prefix length 1-32")))?;
    let mut net = Network {
        addr: ip(addr)?,
        prefix,
        gateway: None,
        dns: Vec::new(),
        dev: None,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("gw", v)) => net.gateway = Some(ip(v)?),
            Some(("dns", v)) => net.dns.push(ip(v)?),
            Some(("dev", v))
                if !v.is_empty()
                    && v.len() < 16
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) =>
            {
                net.dev = Some(v.to_string())
            }
            Some(("dev", v)) => return Err(bad(format!("`{v}` is not an interface name"))),
            _ => return Err(bad(format!("`{part}` is not gw=, dns= or dev="))),
        }
    }
    Ok(Some(net))
}

/// The network interfaces but `lo`, by name (`/sys/class/net`).
fn interfaces(sys_net: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sys_net)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names
}

/// Brings up what `stackwright.ip=` asks for, before any container: the NIC's driver
/// modules when no interface is there yet ([`NIC_MODULES`]), then the address, the
/// default route and `/etc/resolv.conf`. What fails is a [`Stage::Setup`] failure (the run
/// fails, the boot goes on).
fn bring_up_network(report: &Report, net: &Network, modules: &Path) {
    let sys_net = Path::new("/sys/class/net");
    if interfaces(sys_net).is_empty() {
        for m in NIC_MODULES {
            if let Some(p) = find_module(modules, m) {
                match sys::load_module(&p) {
                    Ok(()) => report.say(&format!("module {m}: loaded {}", p.display())),
                    Err(e) => report.say(&format!("module {m} ({}): {e}", p.display())),
                }
            }
        }
    }
    // A driver may register its interface a moment after it loads.
    let until = Instant::now() + Duration::from_secs(5);
    let dev = loop {
        let found = interfaces(sys_net);
        let dev = match &net.dev {
            Some(d) => found.into_iter().find(|f| f == d),
            None => found.into_iter().next(),
        };
        if dev.is_some() || Instant::now() >= until {
            break dev;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(dev) = dev else {
        return report.failed(
            Stage::Setup,
            "network",
            format!(
                "no network interface {}appeared (a NIC for the guest: `run qemu --publish`; its driver built in, or as a module under {})",
                net.dev.as_ref().map(|d| format!("{d} ")).unwrap_or_default(),
                modules.display()
            ),
        );
    };
    if let Err(e) = sys::configure_ipv4(&dev, net.addr, net.prefix, net.gateway) {
        return report.failed(Stage::Setup, "network", format!("{dev}: {e}"));
    }
    if !net.dns.is_empty() {
        let text: String = net
            .dns
            .iter()
            .map(|d| format!("nameserver {d}\n"))
            .collect();
        let _ = std::fs::create_dir_all("/etc");
        if let Err(e) = std::fs::write("/etc/resolv.conf", text) {
            report.say(&format!("writing /etc/resolv.conf: {e}"));
        }
    }
    report.say(&format!(
        "network {dev}: {}/{}{}",
        net.addr,
        net.prefix,
        net.gateway.map(|g| format!(" via {g}")).unwrap_or_default()
    ));
}

/// Runs the whole plan; returns the shutdown asked for and the number of failures.
pub fn run(opts: &Options) -> Result<(Action, usize), InitError> {
    mount_early(opts);
    sys::catch_signals();
    let plan = read_plan(&opts.plan)?;
    let report = open_report(opts);
    if opts.pid1 {
        set_up_machine(&report, &plan);
    }
    let ctx = start(opts, &plan, &report);
    let units = plan.onboot.len()
        + plan.services.iter().map(Vec::len).sum::<usize>()
        + plan.onshutdown.len();
    report.say(&format!(
        "{} onboot, {} service level(s), {} onshutdown",
        plan.onboot.len(),
        plan.services.len(),
        plan.onshutdown.len()
    ));
    report.event(&Event::Boot { units });

    let mut action = None;
    for unit in &plan.onboot {
        if let Some(a) = sys::take_signal() {
            action = Some(a);
            break;
        }
        ctx.run_to_end(Stage::Onboot, unit);
    }
    let mut services: Vec<(Arc<ServiceState>, JoinHandle<()>)> = Vec::new();
    if action.is_none() {
        action = start_services(&ctx, &report, &plan, &mut services);
    }
    let action = loop {
        if let Some(a) = action.or_else(sys::take_signal) {
            break a;
        }
        if opts.exit_when_idle && services.iter().all(|(s, _)| s.done.load(Ordering::SeqCst)) {
            break Action::Poweroff;
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    report.say(&format!("{}: stopping services", action.as_str()));
    stop_services(&ctx, services);
    for unit in &plan.onshutdown {
        ctx.run_to_end(Stage::Onshutdown, unit);
    }
    let failures = report.failures.load(Ordering::SeqCst);
    report.event(&Event::Shutdown {
        action: action.as_str().to_string(),
        failures,
    });
    report.say(&format!("{}, {failures} failure(s)", action.as_str()));
    Ok((action, failures))
}

/// As PID 1: the early mounts (and `/dev/console`, `/dev/ptmx`), Ctrl-Alt-Del to us.
/// Otherwise: the containers' orphans come back to us, as they would to PID 1.
fn mount_early(opts: &Options) {
    if opts.pid1 {
        for m in sys::MOUNTS {
            if let Err(e) = sys::mount(m) {
                eprintln!("stackwright-init: mounting {} on {}: {e}", m.2, m.1);
            }
            if m.1 == "/dev" {
                sys::ensure_console();
                let _ = std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx");
            }
        }
        sys::disable_cad();
    } else {
        sys::become_subreaper();
    }
}

/// Where the boot is reported: the console, `var/log/` under the root and the status
/// channel (when it opens).
fn open_report(opts: &Options) -> Arc<Report> {
    let log_dir = opts.root.join("var/log");
    let _ = std::fs::create_dir_all(&log_dir);
    let status = opts.status.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("stackwright-init: status channel {}: {e}", p.display()))
            .ok()
    });
    Arc::new(Report {
        console: Mutex::new(()),
        status: Mutex::new(status),
        failures: AtomicUsize::new(0),
        log_dir,
    })
}

/// PID 1's setup of the machine: host name, loopback, the modules and network the
/// kernel command line asks for.
fn set_up_machine(report: &Report, plan: &BootPlan) {
    if let Some(h) = &plan.hostname {
        if let Err(e) = sys::set_hostname(h) {
            report.say(&format!("setting the host name {h}: {e}"));
        }
    }
    if let Err(e) = sys::loopback_up() {
        report.say(&format!("bringing up lo: {e}"));
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = Path::new("/lib/modules").join(release.trim());
    load_modules(report, &cmdline, &modules);
    match network_asked(&cmdline) {
        Ok(Some(net)) => bring_up_network(report, &net, &modules),
        Ok(None) => {}
        Err(e) => report.failed(Stage::Setup, "network", e),
    }
}

/// Starts the reaper and returns what running the units needs.
fn start(opts: &Options, plan: &BootPlan, report: &Arc<Report>) -> Arc<Ctx> {
    let reaper = Arc::new(Reaper::default());
    {
        let r = reaper.clone();
        std::thread::spawn(move || r.run());
    }
    let mut runtime_args = Vec::new();
    if opts.pid1 && sys::root_is_initramfs(Path::new("/proc/mounts")) {
        // runc cannot pivot_root out of the initramfs.
        runtime_args.push("--no-pivot".to_string());
    }
    Arc::new(Ctx {
        runtime: opts.root.join(plan.runtime.trim_start_matches('/')),
        root: opts.root.clone(),
        runtime_args,
        reaper,
        report: report.clone(),
        stopping: AtomicBool::new(false),
    })
}

/// Starts the services level by level, each level once the one before is ready; a
/// shutdown signal stops that (and is returned).
fn start_services(
    ctx: &Arc<Ctx>,
    report: &Report,
    plan: &BootPlan,
    services: &mut Vec<(Arc<ServiceState>, JoinHandle<()>)>,
) -> Option<Action> {
    for (i, level) in plan.services.iter().enumerate() {
        report.say(&format!(
            "services level {i}: {}",
            level
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut started = Vec::new();
        for unit in level {
            let state = Arc::new(ServiceState::default());
            let (c, u, s) = (ctx.clone(), unit.clone(), state.clone());
            let h = std::thread::spawn(move || supervise(c, u, s));
            services.push((state.clone(), h));
            started.push((unit.clone(), state));
        }
        await_level(ctx, &started);
        if let Some(a) = sys::take_signal() {
            return Some(a);
        }
    }
    report.event(&Event::ServicesStarted);
    report.say("all services started");
    None
}

/// Stops the services: SIGTERM, up to 10 s for them to end, then SIGKILL; joins the
/// supervisors of those that ended.
fn stop_services(ctx: &Ctx, services: Vec<(Arc<ServiceState>, JoinHandle<()>)>) {
    ctx.stopping.store(true, Ordering::SeqCst);
    for (s, _) in &services {
        if let Some(pid) = *s.pid.lock().unwrap_or_else(|e| e.into_inner()) {
            sys::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && services.iter().any(|(s, _)| !s.done.load(Ordering::SeqCst))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (s, _) in &services {
        if let Some(pid) = *s.pid.lock().unwrap_or_else(|e| e.into_inner()) {
            sys::kill(pid, libc::SIGKILL);
        }
    }
    for (s, h) in services {
        if s.done.load(Ordering::SeqCst) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod module_tests {
    use super::*;

    #[test]
    fn the_network_comes_from_the_command_line() {
        use std::net::Ipv4Addr;
        assert_eq!(network_asked("console=ttyS0 quiet"), Ok(None));
        let n = network_asked("console=ttyS0 stackwright.ip=10.0.2.15/24,gw=10.0.2.2,dns=10.0.2.3")
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            Network {
                addr: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
                dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
                dev: None,
            }
        );
        let n = network_asked("stackwright.ip=192.168.1.9/16,dev=ens3")
            .unwrap()
            .unwrap();
        assert_eq!(
            (n.prefix, n.gateway, n.dev.as_deref()),
            (16, None, Some("ens3"))
        );
        // The last one wins, as the kernel's own parameters do.
        let n = network_asked("stackwright.ip=10.0.0.1/8 stackwright.ip=10.0.2.15/24").unwrap();
        assert_eq!(n.unwrap().addr, Ipv4Addr::new(10, 0, 2, 15));
        for (bad, says) in [
            ("stackwright.ip=10.0.2.15", "has no /PREFIX"),
            ("stackwright.ip=10.0.2.15/33", "not a prefix length"),
            (
                "stackwright.ip=10.0.2/24",
                "`10.0.2` is not an IPv4 address",
            ),
            (
                "stackwright.ip=10.0.2.15/24,gw=x",
                "`x` is not an IPv4 address",
            ),
            (
                "stackwright.ip=10.0.2.15/24,via=1.2.3.4",
                "is not gw=, dns= or dev=",
            ),
            (
                "stackwright.ip=10.0.2.15/24,dev=a/b",
                "not an interface name",
            ),
        ] {
            let e = network_asked(bad).unwrap_err();
            assert!(
                e.contains(says) && e.contains("e.g. 10.0.2.15/24"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn modules_come_from_the_command_line_in_order() {
        assert_eq!(
            modules_asked("console=ttyS0 stackwright.modules=virtio-ring,virtio,,virtio_blk quiet"),
            ["virtio_ring", "virtio", "virtio_blk"]
        );
        assert!(modules_asked("console=ttyS0").is_empty());
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("kernel/drivers/block");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("virtio-blk.ko"), b"").unwrap();
        assert_eq!(
            find_module(d.path(), "virtio_blk"),
            Some(deep.join("virtio-blk.ko"))
        );
        assert_eq!(find_module(d.path(), "virtio_net"), None);
    }
}
