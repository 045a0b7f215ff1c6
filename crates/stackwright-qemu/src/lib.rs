//! `stackwright run qemu`: boots what `stackwright assemble` wrote under
//! `qemu-system-x86_64` — a `kernel+initrd` output directory (`<name>-kernel`,
//! `<name>-initrd.img`, `<name>-cmdline`: qemu loads them directly), or a disk image file
//! ([`find_disk`]): raw and qcow2 images as a virtio disk, ISO images as a CD-ROM; BIOS
//! images with qemu's default firmware (SeaBIOS), EFI images with OVMF (Debian's `ovmf`,
//! [`OVMF`]). The image is opened with `snapshot=on`: a run never changes it.
//!
//! - the first serial port (`ttyS0`, the console) is streamed to the caller's sink;
//! - the second (`ttyS1`) is the status channel: `stackwright-init` writes one JSON
//!   [`Event`] a line there, and [`run`] reads it when the guest has stopped;
//! - `-no-reboot`: a guest poweroff (or reboot) ends qemu;
//! - `--kvm auto` uses KVM only if the host's KVM is not PVM (which runs only kernels
//!   built as its guests) and qemu takes this guest's machine under KVM ([`kvm_check`]),
//!   and starts the guest again under TCG if qemu still fails under KVM
//!   before the guest ran ([`run_with`]).
//!
//! The verdict ([`Verdict`]): clean (powered off, nothing failed), failed (the init
//! reported failures, or never reported at all), or timed out. The CLI maps them to exit
//! codes 0, 1 and 124; qemu missing or not starting is [`QemuError`] (exit 3).

mod image;
#[allow(unsafe_code)] // the one unsafe module: its safety model is stated at its top
mod kvm;

pub use image::find_disk;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use stackwright_types::boot::Event;

/// The program this crate runs.
pub const QEMU: &str = "qemu-system-x86_64";
/// How to get it on Debian and Ubuntu.
pub const INSTALL_HINT: &str = "apt-get install -y qemu-system-x86";

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{program} is not installed")]
    Missing { program: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} holds no bootable platform: {reason}")]
    NotBootable { dir: String, reason: String },
    #[error("--kvm on, but KVM does not work here: {reason}")]
    NoKvm { reason: String },
    #[error("{path} is not a disk image Stackwright boots: {reason}")]
    NotAnImage { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

/// Where OVMF (Debian's `ovmf`) is looked for, first found wins.
pub const OVMF: &[&str] = &["/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF.fd"];
/// How to get OVMF on Debian and Ubuntu.
pub const OVMF_HINT: &str = "apt-get install -y ovmf";

pub use stackwright_disk::{Container, Firmware};

/// A disk image to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub container: Container,
    /// What the bytes say; `None` for a qcow2 whose first sectors this crate cannot read
    /// (compressed, encrypted, a backing file): [`Options::firmware`] must say.
    pub firmware: Option<Firmware>,
    /// Where run files (status, data disk) go: the image's directory.
    pub dir: PathBuf,
}

/// What to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guest {
    /// A kernel, an initrd and a cmdline, loaded by qemu.
    Kernel(Boot),
    /// A disk image that boots itself.
    Disk(Disk),
}

impl From<Boot> for Guest {
    fn from(b: Boot) -> Guest {
        Guest::Kernel(b)
    }
}

impl Guest {
    fn dir(&self) -> &Path {
        match self {
            Guest::Kernel(b) => &b.dir,
            Guest::Disk(d) => &d.dir,
        }
    }
}

/// A directory is a `kernel+initrd` output ([`find_boot`]), a file a disk image
/// ([`find_disk`]).
pub fn find(target: &Path) -> Result<Guest, QemuError> {
    if target.is_dir() {
        find_boot(target).map(Guest::Kernel)
    } else {
        find_disk(target).map(Guest::Disk)
    }
}

fn find_ovmf() -> Result<PathBuf, QemuError> {
    OVMF.iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| QemuError::Missing {
            program: format!("OVMF ({})", OVMF[0]),
        })
}

/// `--kvm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kvm {
    /// KVM when it works, else TCG.
    #[default]
    Auto,
    On,
    Off,
}

impl std::str::FromStr for Kvm {
    type Err = String;
    fn from_str(s: &str) -> Result<Kvm, String> {
        match s {
            "auto" => Ok(Kvm::Auto),
            "on" => Ok(Kvm::On),
            "off" => Ok(Kvm::Off),
            other => Err(format!("--kvm {other}: use auto, on or off")),
        }
    }
}

/// [`kvm_check`]'s answer on a host whose KVM is PVM.
pub const KVM_PVM: &str = kvm::PVM;

/// How long the KVM probe may take before it counts as "KVM does not work here".
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// Whether KVM works on this machine with this qemu for `guest`: tried, not guessed from
/// `/dev/kvm`. First the kernel's KVM is looked at: PVM (the `kvm_pvm` module, a KVM
/// without the CPU's virtualisation) runs only guest kernels built for it, so it is a no
/// ([`KVM_PVM`]); then a VM is created on `/dev/kvm`; then qemu is started with KVM and the
/// guest's machine (`-cpu host`, its memory, CPUs and firmware) with its CPU stopped
/// (`-S`) and the monitor on stdin, which is sent `quit`. qemu reads the monitor only
/// once the machine is built and reset (the vCPUs' registers and MSRs set under KVM), so
/// exiting 0 on `quit` means KVM took this machine; where KVM is only half there (no
/// nested virtualisation: `failed to set MSR 0x10a`, an assertion and an abort) qemu dies
/// first. No timing is involved: a loaded machine gets the same answer, only later.
/// `Err` says why not, in qemu's words where it said any.
pub fn kvm_check(qemu: &Path, guest: &Guest, opts: &Options) -> Result<(), String> {
    if let Some(why) = kvm::unusable() {
        return Err(why);
    }
    let mut c = Command::new(qemu);
    c.args(["-nodefaults", "-no-user-config", "-display", "none"]);
    // A firmware this run cannot find or tell fails the run itself, later, with its own
    // error; the probe then goes without it.
    machine(
        &mut c,
        opts,
        true,
        firmware(guest, opts).ok().flatten().as_deref(),
    );
    c.args(["-S", "-monitor", "stdio", "-serial", "none", "-nic", "none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("starting {}: {e}", qemu.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A qemu that died already closed its end: its exit status says why.
        let _ = stdin.write_all(b"quit\n");
    }
    let mut err = child.stderr.take().expect("piped");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + PROBE_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stderr = errs.join().unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(qemu_said(&stderr).unwrap_or_else(|| format!("qemu under KVM: {st}"))),
        None => Err(format!(
            "qemu under KVM did not answer its monitor within {} s",
            PROBE_LIMIT.as_secs()
        )),
    }
}

/// The first thing qemu's stderr says that is not a warning, without the program's name
/// (`failed to set MSR 0x10a to 0x69`).
fn qemu_said(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .map(|l| {
            let l = l.trim();
            match l.split_once(": ") {
                Some((prog, rest)) if prog.starts_with("qemu-system") => rest,
                _ => l,
            }
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).trim())
        .find(|l| !l.is_empty() && !l.starts_with("warning:"))
        .map(str::to_string)
}

/// How a qemu process ended, as far as the KVM fallback cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Ended {
    /// Exited 0.
    success: bool,
    /// The signal that killed it (6 for an assertion's abort).
    signal: Option<i32>,
    /// Bytes the guest wrote to the console.
    console: usize,
    /// Status events the init wrote.
    events: usize,
    /// `run` stopped it (timeout, kernel panic).
    stopped: bool,
    /// The console showed a kernel panic.
    panicked: bool,
}

/// Signals a qemu that crashed on its own dies of (an assertion's abort, a fault).
const CRASH_SIGNALS: [i32; 5] = [
    libc::SIGABRT,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
];

/// Why a run under KVM is to be started again under TCG, or `None`: only when qemu ended
/// on its own, unsuccessfully, before the guest wrote a byte to the console or a status
/// event (so before it could have touched `--disk`: a guest that ran is never run twice),
/// and it crashed (an abort: `kvm_buf_set_msrs: Assertion …`) or said something about KVM
/// or an MSR that is not a warning. Any other failure (a missing drive file, bad options)
/// would fail under TCG as well and is reported as it is.
fn kvm_start_failure(ended: &Ended, stderr: &str) -> Option<String> {
    if ended.success || ended.stopped || ended.console > 0 || ended.events > 0 {
        return None;
    }
    let crashed = ended.signal.is_some_and(|s| CRASH_SIGNALS.contains(&s));
    let about_kvm = stderr.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        !l.contains("warning:") && (l.contains("kvm") || l.contains("msr"))
    });
    if !crashed && !about_kvm {
        return None;
    }
    Some(qemu_said(stderr).unwrap_or_else(|| match ended.signal {
        Some(s) => format!("qemu was killed by signal {s}"),
        None => "qemu failed".into(),
    }))
}

/// What [`run_with`] says while it runs, besides the console.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// `--kvm auto` chose KVM, but qemu failed under KVM before the guest started
    /// (`reason`, in qemu's words); the guest is being started again under TCG.
    KvmFallback { reason: String },
}

/// How to run the guest.
#[derive(Clone, Debug)]
pub struct Options {
    /// Memory, as qemu's `-m` takes it (`1024`, `2G`).
    pub mem: String,
    pub cpus: u32,
    /// Stop the guest after this long.
    pub timeout: Option<Duration>,
    pub kvm: Kvm,
    /// `[ADDR:]HOST:GUEST` TCP port forwards (user networking, a virtio NIC; a kernel+initrd
    /// guest is given [`GUEST_NETWORK`] on its command line).
    pub publish: Vec<Publish>,
    /// A persistent raw data disk of this size (`1G`), kept in the output directory.
    pub disk: Option<String>,
    /// The qemu program (default [`QEMU`] on `PATH`).
    pub qemu: Option<PathBuf>,
    /// The firmware of a disk image, when its bytes do not say (default: what
    /// [`find_disk`] read).
    pub firmware: Option<Firmware>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mem: "1024".into(),
            cpus: 1,
            timeout: None,
            kvm: Kvm::Auto,
            publish: Vec::new(),
            disk: None,
            qemu: None,
            firmware: None,
        }
    }
}

/// The files of a kernel+initrd output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    /// Where run files (status, data disk) go.
    pub dir: PathBuf,
}

/// Finds `<name>-kernel`, `<name>-initrd.img` and `<name>-cmdline` in `dir`.
pub fn find_boot(dir: &Path) -> Result<Boot, QemuError> {
    let not = |reason: String| QemuError::NotBootable {
        dir: dir.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| not(e.to_string()))?;
    let mut kernels: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-kernel"))
        })
        .collect();
    kernels.sort();
    let kernel = match kernels.as_slice() {
        [k] => k.clone(),
        [] => return Err(not(
            "no <name>-kernel file; write one with `stackwright assemble … --format kernel+initrd`"
                .into(),
        )),
        _ => return Err(not("more than one <name>-kernel file".into())),
    };
    let stem = kernel
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix("-kernel"))
        .unwrap_or_default()
        .to_string();
    let initrd = dir.join(format!("{stem}-initrd.img"));
    if !initrd.is_file() {
        return Err(not(format!("{} is missing", initrd.display())));
    }
    let cmdline = std::fs::read_to_string(dir.join(format!("{stem}-cmdline")))
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(Boot {
        kernel,
        initrd,
        cmdline,
        dir: dir.to_path_buf(),
    })
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The guest stopped, the init reported, and nothing failed.
    Clean,
    /// What failed, one line each (`onboot hello: exited with exit status 3`).
    Failed(Vec<String>),
    TimedOut,
}

/// What [`run`] found.
#[derive(Clone, Debug)]
pub struct Report {
    pub verdict: Verdict,
    /// Every status event, in order.
    pub events: Vec<Event>,
    /// Whether KVM was used.
    pub kvm: bool,
    /// Under `--kvm auto`, why KVM was not used: the probe's answer ([`kvm_check`]), or
    /// the failure under KVM that made the run start again under TCG.
    pub kvm_unused: Option<String>,
    /// From starting qemu to its end.
    pub elapsed: Duration,
    /// Seconds since boot the kernel printed when it started the init (`Run /init`),
    /// when it did.
    pub kernel_boot: Option<f64>,
}

impl Report {
    /// 0 clean, 1 failed, 124 timed out.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Clean => 0,
            Verdict::Failed(_) => 1,
            Verdict::TimedOut => 124,
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The firmware file `guest` boots with (`-bios`): OVMF for an EFI disk image, none
/// (qemu's SeaBIOS, or a kernel loaded directly) otherwise.
fn firmware(guest: &Guest, opts: &Options) -> Result<Option<PathBuf>, QemuError> {
    let Guest::Disk(d) = guest else {
        return Ok(None);
    };
    let firmware = opts.firmware.or(d.firmware).ok_or_else(|| {
        QemuError::Usage(format!(
            "cannot tell from {} whether it boots with BIOS or EFI (its first sectors are compressed, encrypted or in a backing file): pass --firmware bios or --firmware efi",
            d.path.display()
        ))
    })?;
    match firmware {
        Firmware::Efi => find_ovmf().map(Some),
        Firmware::Bios => Ok(None),
    }
}

/// The machine: accelerator, CPU, memory, CPUs, firmware. The same for the guest and for
/// the KVM probe ([`kvm_check`]), so the probe's verdict is about this machine.
fn machine(c: &mut Command, opts: &Options, kvm: bool, bios: Option<&Path>) {
    c.args([
        "-machine",
        if kvm {
            "q35,accel=kvm"
        } else {
            "q35,accel=tcg"
        },
    ])
    .args(["-m", &opts.mem])
    .args(["-smp", &opts.cpus.to_string()]);
    if kvm {
        c.args(["-cpu", "host"]);
    }
    if let Some(b) = bios {
        c.arg("-bios").arg(b);
    }
}

/// The qemu command line for `boot` (without starting it). `status` is the file the second
/// serial port writes to.
pub fn command(
    qemu: &Path,
    guest: &Guest,
    opts: &Options,
    kvm: bool,
    status: &Path,
    disk: Option<&Path>,
) -> Result<Command, QemuError> {
    let mut c = Command::new(qemu);
    c.args(["-nodefaults", "-no-user-config", "-display", "none"]);
    machine(&mut c, opts, kvm, firmware(guest, opts)?.as_deref());
    match guest {
        Guest::Kernel(boot) => {
            let mut cmdline = boot.cmdline.clone();
            let mut adds = vec![("console=ttyS0", "console=ttyS0"), ("panic=", "panic=-1")];
            if !opts.publish.is_empty() {
                adds.push(("stackwright.ip=", GUEST_NETWORK));
            }
            for (word, add) in adds {
                if !cmdline.contains(word) {
                    cmdline.push(' ');
                    cmdline.push_str(add);
                }
            }
            c.arg("-kernel")
                .arg(&boot.kernel)
                .arg("-initrd")
                .arg(&boot.initrd)
                .args(["-append", cmdline.trim()]);
        }
        Guest::Disk(d) => {
            let file = d.path.display().to_string().replace(',', ",,");
            c.arg("-drive").arg(match d.container {
                Container::Raw => format!("file={file},format=raw,if=virtio,snapshot=on"),
                Container::Qcow2 => format!("file={file},format=qcow2,if=virtio,snapshot=on"),
                Container::Iso => format!("file={file},format=raw,media=cdrom,readonly=on"),
            });
        }
    }
    c.arg("-no-reboot")
        .args(["-chardev", "stdio,id=console,signal=off"])
        .args(["-serial", "chardev:console"])
        .arg("-chardev")
        .arg(format!("file,id=status,path={}", status.display()))
        .args(["-serial", "chardev:status"]);
    if !opts.publish.is_empty() {
        let fwd: String = opts
            .publish
            .iter()
            .map(|p| {
                let addr = p.addr.map(|a| a.to_string()).unwrap_or_default();
                format!(",hostfwd=tcp:{addr}:{}-:{}", p.host, p.guest)
            })
            .collect();
        c.args(["-netdev", &format!("user,id=net0{fwd}")])
            .args(["-device", "virtio-net-pci,netdev=net0"]);
    } else {
        // No network device at all (qemu would otherwise add its default NIC on user
        // networking): a platform without --publish is offline.
        c.args(["-nic", "none"]);
    }
    if let Some(d) = disk {
        c.arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", d.display()));
    }
    Ok(c)
}

pub use stackwright_disk::parse_size;

/// What a kernel+initrd guest with a NIC is told on its command line (`stackwright-init`
/// sets it up before any container): qemu's user network gives the guest 10.0.2.15, its
/// gateway is 10.0.2.2 and its DNS server 10.0.2.3; the port forwards go to 10.0.2.15. A
/// command line that already has `stackwright.ip=` keeps its own.
pub const GUEST_NETWORK: &str = "stackwright.ip=10.0.2.15/24,gw=10.0.2.2,dns=10.0.2.3";

/// One `--publish [ADDR:]HOST:GUEST`: host TCP port `host` (on `addr`, default every
/// address) forwarded to the guest's port `guest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub addr: Option<std::net::Ipv4Addr>,
    pub host: u16,
    pub guest: u16,
}

/// Parses `[ADDR:]HOST:GUEST` (`8080:80`, `127.0.0.1:8080:80`).
pub fn parse_publish(s: &str) -> Result<Publish, String> {
    let use_ = "use [ADDR:]HOST:GUEST, e.g. 8080:80 or 127.0.0.1:8080:80";
    let parts: Vec<&str> = s.split(':').collect();
    let (addr, h, g) = match parts.as_slice() {
        [h, g] => (None, *h, *g),
        [a, h, g] => {
            let a = a
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| format!("--publish {s}: `{a}` is not an IPv4 address ({use_})"))?;
            (Some(a), *h, *g)
        }
        _ => return Err(format!("--publish {s}: {use_}")),
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("--publish {s}: `{p}` is not a port 1-65535 ({use_})"))
    };
    Ok(Publish {
        addr,
        host: port(h)?,
        guest: port(g)?,
    })
}

/// Boots `guest`, streaming the console into `console`, until the guest stops or the
/// timeout passes. [`run_with`] without notices.
pub fn run(
    guest: &Guest,
    opts: &Options,
    console: Box<dyn Write + Send>,
) -> Result<Report, QemuError> {
    run_with(guest, opts, console, &mut |_| {})
}

/// Boots `guest` as [`run`] does, telling `notice` what happens besides the console (a
/// KVM start that failed and the TCG run that replaces it) when it happens.
///
/// Under `--kvm auto` KVM is used when [`kvm_check`] passes for this guest's machine; if
/// qemu then still fails under KVM before the guest wrote anything (console or status:
/// nothing of the guest ran), the same guest is started once more under TCG, with
/// [`Notice::KvmFallback`] first. A guest that started is never started again.
pub fn run_with(
    guest: &Guest,
    opts: &Options,
    console: Box<dyn Write + Send>,
    notice: &mut dyn FnMut(&Notice),
) -> Result<Report, QemuError> {
    let qemu = match &opts.qemu {
        Some(q) => q.clone(),
        None => find_program(QEMU).ok_or_else(|| QemuError::Missing {
            program: QEMU.into(),
        })?,
    };
    let (kvm, mut kvm_unused) = match opts.kvm {
        Kvm::Off => (false, None),
        Kvm::Auto => match kvm_check(&qemu, guest, opts) {
            Ok(()) => (true, None),
            Err(why) => (false, Some(why)),
        },
        Kvm::On => match kvm_check(&qemu, guest, opts) {
            Ok(()) => (true, None),
            Err(reason) => return Err(QemuError::NoKvm { reason }),
        },
    };
    let io = |what: String| move |source| QemuError::Io { what, source };
    let status = guest.dir().join("run-status.jsonl");
    let disk = match &opts.disk {
        None => None,
        Some(size) => {
            let bytes = parse_size(size).map_err(QemuError::Usage)?;
            let path = guest.dir().join("data-disk.img");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io(format!("creating {}", path.display())))?;
            if f.metadata().map(|m| m.len()).unwrap_or(0) < bytes {
                f.set_len(bytes)
                    .map_err(io(format!("sizing {}", path.display())))?;
            }
            Some(path)
        }
    };
    let mut ran = attempt(&qemu, guest, opts, kvm, &status, disk.as_deref(), console)?;
    let mut kvm = kvm;
    if kvm && opts.kvm == Kvm::Auto {
        if let Some(reason) = kvm_start_failure(&ran.ended, &ran.stderr) {
            notice(&Notice::KvmFallback {
                reason: reason.clone(),
            });
            kvm = false;
            kvm_unused = Some(format!(
                "qemu failed under KVM before the guest started: {reason}"
            ));
            ran = attempt(
                &qemu,
                guest,
                opts,
                false,
                &status,
                disk.as_deref(),
                ran.console,
            )?;
        }
    }
    let Attempt {
        ended,
        stderr,
        exit,
        seen,
        elapsed,
        ..
    } = ran;
    let console_text = String::from_utf8_lossy(&seen);
    let events: Vec<Event> = std::fs::read_to_string(&status)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            serde_json::from_str(l.trim_matches(|c: char| c == '\r' || c.is_whitespace())).ok()
        })
        .collect();
    let kernel_boot = kernel_boot_time(&console_text);
    let report = |verdict| Report {
        verdict,
        events: events.clone(),
        kvm,
        kvm_unused: kvm_unused.clone(),
        elapsed,
        kernel_boot,
    };
    if ended.stopped && !ended.panicked {
        return Ok(report(Verdict::TimedOut));
    }
    if !exit.success() && events.is_empty() && !ended.panicked {
        return Err(QemuError::Io {
            what: format!("{} exited with {exit}", qemu.display()),
            source: std::io::Error::other(stderr.trim().to_string()),
        });
    }
    let mut failures: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Failed {
                stage,
                name,
                reason,
            } => Some(format!("{stage} {name}: {reason}")),
            _ => None,
        })
        .collect();
    if let Some(l) = console_text.lines().find(|l| l.contains("Kernel panic")) {
        failures.push(format!("the kernel panicked: {}", l.trim()));
    } else if !events.iter().any(|e| matches!(e, Event::Boot { .. })) {
        failures.push(
            "the init never reported on the status port (is the platform's init stackwright-init?)"
                .into(),
        );
    }
    Ok(report(if failures.is_empty() {
        Verdict::Clean
    } else {
        Verdict::Failed(failures)
    }))
}

/// One qemu process: what it wrote and how it ended.
struct Attempt {
    ended: Ended,
    exit: std::process::ExitStatus,
    stderr: String,
    /// Everything the console said.
    seen: Vec<u8>,
    /// The caller's console, handed back for a next attempt.
    console: Box<dyn Write + Send>,
    elapsed: Duration,
}

/// Starts qemu once (the status file emptied first) and waits for its end, the timeout or
/// a kernel panic.
fn attempt(
    qemu: &Path,
    guest: &Guest,
    opts: &Options,
    kvm: bool,
    status: &Path,
    disk: Option<&Path>,
    mut console: Box<dyn Write + Send>,
) -> Result<Attempt, QemuError> {
    let io = |what: String| move |source| QemuError::Io { what, source };
    std::fs::write(status, b"").map_err(io(format!("writing {}", status.display())))?;
    let mut cmd = command(qemu, guest, opts, kvm, status, disk)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(io(format!("starting {}", qemu.display())))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    // A kernel panic ends the run at once: a disk image's own cmdline may lack the
    // `panic=-1` that makes qemu exit (`-no-reboot`), and the panic is the verdict anyway.
    let panicked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let panic_seen = panicked.clone();
    let pump = std::thread::spawn(move || {
        const END: &[u8] = b"---[ end Kernel panic";
        let mut seen = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = console.write_all(&buf[..n]);
                    let _ = console.flush();
                    let from = seen.len().saturating_sub(END.len());
                    seen.extend_from_slice(&buf[..n]);
                    if seen[from..].windows(END.len()).any(|w| w == END) {
                        panic_seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
        (seen, console)
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stopped = false;
    let exit = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(io(format!("waiting for {}", qemu.display())))?
        {
            break st;
        }
        if panicked.load(std::sync::atomic::Ordering::Relaxed) {
            // Give the console a moment to drain, then stop the halted guest.
            std::thread::sleep(Duration::from_millis(200));
            stopped = true;
            let _ = child.kill();
            break child
                .wait()
                .map_err(io(format!("waiting for {}", qemu.display())))?;
        }
        if opts.timeout.is_some_and(|t| started.elapsed() >= t) {
            stopped = true;
            let _ = child.kill();
            break child
                .wait()
                .map_err(io(format!("waiting for {}", qemu.display())))?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let (seen, console) = pump.join().map_err(|_| QemuError::Io {
        what: "reading the console".into(),
        source: std::io::Error::other("the console reader panicked"),
    })?;
    let stderr = errs.join().unwrap_or_default();
    let events = std::fs::read_to_string(status)
        .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    use std::os::unix::process::ExitStatusExt;
    Ok(Attempt {
        ended: Ended {
            success: exit.success(),
            signal: exit.signal(),
            console: seen.len(),
            events,
            stopped,
            panicked: panicked.load(std::sync::atomic::Ordering::Relaxed),
        },
        exit,
        stderr,
        seen,
        console,
        elapsed,
    })
}

/// The kernel's timestamp of `Run /init as init process` (its own boot time, the floor of
/// any platform's), from a console with printk times.
pub fn kernel_boot_time(console: &str) -> Option<f64> {
    console
        .lines()
        .find(|l| l.contains("Run /init") || l.contains("Run /sbin/init"))
        .and_then(|l| {
            let open = l.find('[')?;
            let close = l[open..].find(']')? + open;
            l[open + 1..close].trim().parse::<f64>().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ports_parse() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("lots").is_err() && parse_size("0").is_err());
        assert_eq!(
            parse_publish("8080:80"),
            Ok(Publish {
                addr: None,
                host: 8080,
                guest: 80
            })
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").map(|p| p.addr),
            Ok(Some(std::net::Ipv4Addr::LOCALHOST))
        );
        for bad in [
            "8080",
            "x:1",
            "0:80",
            "8080:70000",
            "localhost:1:2",
            "1:2:3:4",
            "",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    /// qemu 7.2 (Debian 12) under KVM with `-cpu host` on a VM without nested
    /// virtualisation, recorded on the CI machine: the probe and every guest die this way.
    const MSR_ABORT: &str = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69
qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.
";
    /// The same with `-smp 64`: KVM's warnings first.
    const MSR_ABORT_WARNED: &str = "qemu-system-x86_64: warning: Number of SMP cpus requested (64) exceeds the recommended cpus supported by KVM (2)
qemu-system-x86_64: warning: Number of hotpluggable cpus requested (64) exceeds the recommended cpus supported by KVM (2)
qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69
qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.
";
    /// As a user without access to /dev/kvm (exit 1, no signal).
    const NO_ACCESS: &str = "Could not access KVM kernel module: Permission denied
qemu-system-x86_64: failed to initialize kvm: Permission denied
";
    /// Not about KVM: TCG would fail the same way.
    const NO_FILE: &str = "qemu-system-x86_64: -drive file=/nope/x.img,format=raw,if=virtio,snapshot=on: Could not open '/nope/x.img': No such file or directory
";

    #[test]
    fn a_kvm_failure_before_the_guest_ran_is_retried_under_tcg() {
        let abort = Ended {
            signal: Some(libc::SIGABRT),
            ..Ended::default()
        };
        let exit1 = Ended::default();
        assert_eq!(
            kvm_start_failure(&abort, MSR_ABORT).as_deref(),
            Some("failed to set MSR 0x10a to 0x69")
        );
        assert_eq!(
            kvm_start_failure(&abort, MSR_ABORT_WARNED).as_deref(),
            Some("failed to set MSR 0x10a to 0x69"),
            "the reason is the error, not KVM's warnings"
        );
        assert_eq!(
            kvm_start_failure(&exit1, NO_ACCESS).as_deref(),
            Some("Could not access KVM kernel module: Permission denied")
        );
        // A crash that said nothing is still a failure to start under KVM.
        assert_eq!(
            kvm_start_failure(&abort, "").as_deref(),
            Some("qemu was killed by signal 6")
        );
    }

    #[test]
    fn a_guest_that_ran_or_a_failure_not_about_kvm_is_not_retried() {
        let abort = Ended {
            signal: Some(libc::SIGABRT),
            ..Ended::default()
        };
        // The guest wrote to the console, or the init reported: it ran, maybe on --disk.
        for ran in [
            Ended {
                console: 1,
                ..abort
            },
            Ended { events: 1, ..abort },
        ] {
            assert_eq!(kvm_start_failure(&ran, MSR_ABORT), None, "{ran:?}");
        }
        // Stopped by run (timeout, panic), or a clean exit.
        assert_eq!(
            kvm_start_failure(
                &Ended {
                    stopped: true,
                    signal: Some(libc::SIGKILL),
                    ..Ended::default()
                },
                MSR_ABORT
            ),
            None
        );
        assert_eq!(
            kvm_start_failure(
                &Ended {
                    success: true,
                    ..Ended::default()
                },
                MSR_ABORT
            ),
            None
        );
        // Exit 1 over a missing file: TCG would say the same.
        assert_eq!(kvm_start_failure(&Ended::default(), NO_FILE), None);
        // Killed from outside (SIGTERM), nothing about KVM: not a crash.
        let term = Ended {
            signal: Some(libc::SIGTERM),
            ..Ended::default()
        };
        assert_eq!(kvm_start_failure(&term, NO_FILE), None);
        // KVM's warnings alone do not make an unrelated failure a KVM one.
        let warned = format!(
            "{}{NO_FILE}",
            MSR_ABORT_WARNED.lines().next().unwrap().to_owned() + "\n"
        );
        assert_eq!(kvm_start_failure(&Ended::default(), &warned), None);
    }

    #[test]
    fn qemu_said_skips_warnings_and_the_program_name() {
        assert_eq!(
            qemu_said(MSR_ABORT_WARNED).as_deref(),
            Some("failed to set MSR 0x10a to 0x69")
        );
        assert_eq!(
            qemu_said(NO_FILE).as_deref(),
            Some("-drive file=/nope/x.img,format=raw,if=virtio,snapshot=on: Could not open '/nope/x.img': No such file or directory")
        );
        assert_eq!(qemu_said("\n  \n"), None);
    }

    #[test]
    fn the_probe_and_the_guest_get_the_same_machine() {
        let opts = Options {
            mem: "768".into(),
            cpus: 2,
            ..Options::default()
        };
        let mut probe = Command::new("qemu");
        machine(&mut probe, &opts, true, Some(Path::new("/ovmf.fd")));
        let probe: Vec<String> = probe
            .get_args()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert_eq!(
            probe.join(" "),
            "-machine q35,accel=kvm -m 768 -smp 2 -cpu host -bios /ovmf.fd"
        );
        let guest = Guest::Disk(Disk {
            path: "/x/p.img".into(),
            container: Container::Raw,
            firmware: Some(Firmware::Bios),
            dir: "/x".into(),
        });
        let c = command(Path::new("qemu"), &guest, &opts, true, Path::new("s"), None).unwrap();
        let line: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert!(
            line.join(" ")
                .contains("-machine q35,accel=kvm -m 768 -smp 2 -cpu host -drive"),
            "{line:?}"
        );
    }

    #[test]
    fn the_kernel_boot_time_is_read_from_printk() {
        let c = "[    0.000000] Linux version 6.1\n[    1.234567] Run /init as init process\n";
        assert_eq!(kernel_boot_time(c), Some(1.234567));
        assert_eq!(kernel_boot_time("no times"), None);
    }

    #[test]
    fn the_command_line_has_both_serial_ports_and_no_reboot() {
        let boot = Boot {
            kernel: "k".into(),
            initrd: "i".into(),
            cmdline: "console=tty0".into(),
            dir: ".".into(),
        };
        let opts = Options {
            publish: vec![
                parse_publish("8080:80").unwrap(),
                parse_publish("127.0.0.1:8443:443").unwrap(),
            ],
            ..Options::default()
        };
        let guest = Guest::from(boot);
        let c = command(
            Path::new("qemu"),
            &guest,
            &opts,
            false,
            Path::new("s"),
            None,
        )
        .unwrap();
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into()).collect();
        let line = args.join(" ");
        assert!(
            line.contains("-append console=tty0 console=ttyS0 panic=-1"),
            "{line}"
        );
        assert!(line.contains("-serial chardev:console") && line.contains("file,id=status,path=s"));
        assert!(line.contains("-no-reboot") && line.contains("accel=tcg"));
        assert!(
            line.contains("user,id=net0,hostfwd=tcp::8080-:80,hostfwd=tcp:127.0.0.1:8443-:443"),
            "{line}"
        );
        assert!(
            line.contains(&format!("panic=-1 {GUEST_NETWORK}")),
            "a guest with a NIC is told its address: {line}"
        );
        assert!(!line.contains("-nic none"), "{line}");
        let offline = command(
            Path::new("qemu"),
            &guest,
            &Options::default(),
            false,
            Path::new("s"),
            None,
        )
        .unwrap();
        let args: Vec<String> = offline
            .get_args()
            .map(|a| a.to_string_lossy().into())
            .collect();
        let line = args.join(" ");
        assert!(
            line.contains("-nic none") && !line.contains("-netdev"),
            "no --publish, no network device: {line}"
        );
        assert!(!line.contains("stackwright.ip="), "{line}");
    }

    #[test]
    fn a_directory_without_a_kernel_is_not_bootable() {
        let d = tempfile::tempdir().unwrap();
        let e = find_boot(d.path()).unwrap_err();
        assert!(e.to_string().contains("--format kernel+initrd"), "{e}");
        std::fs::write(d.path().join("x-kernel"), b"k").unwrap();
        std::fs::write(d.path().join("x-initrd.img"), b"i").unwrap();
        std::fs::write(d.path().join("x-cmdline"), b"console=ttyS0\n").unwrap();
        let b = find_boot(d.path()).unwrap();
        assert_eq!(b.cmdline, "console=ttyS0");
    }
    #[test]
    fn a_disk_image_is_attached_unchanged() {
        let disk = |container, firmware| {
            Guest::Disk(Disk {
                path: "/x/p.img".into(),
                container,
                firmware: Some(firmware),
                dir: "/x".into(),
            })
        };
        let line = |g: &Guest| {
            let c = command(
                Path::new("qemu"),
                g,
                &Options::default(),
                false,
                Path::new("s"),
                None,
            );
            c.map(|c| {
                c.get_args()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        };
        let raw = line(&disk(Container::Raw, Firmware::Bios)).unwrap();
        assert!(
            raw.contains("file=/x/p.img,format=raw,if=virtio,snapshot=on"),
            "{raw}"
        );
        assert!(!raw.contains("-bios") && !raw.contains("-kernel"), "{raw}");
        let iso = line(&disk(Container::Iso, Firmware::Bios)).unwrap();
        assert!(iso.contains("media=cdrom,readonly=on"), "{iso}");
        match line(&disk(Container::Qcow2, Firmware::Efi)) {
            Ok(l) => assert!(
                l.contains("-bios /usr/share/") && l.contains("format=qcow2"),
                "{l}"
            ),
            // No OVMF here: the error names it.
            Err(e) => assert!(e.to_string().contains("OVMF"), "{e}"),
        }
    }
}
