//! The few system calls PID 1 needs: mounts, host name, loopback and one IPv4 interface,
//! reaping, signals, poweroff. Everything here is a thin, checked wrapper over `libc`.
//!
//! Safety model: every `unsafe` block is one system call (or a zeroed plain C struct for
//! one, or an IPv4 `sockaddr_in` read as the same-sized `sockaddr`), with pointers to
//! locals or `CString`s that outlive the call; no memory is shared with the kernel beyond
//! the call, and results are checked. The signal handler only stores into an atomic.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One mount a container host needs: (source, target, type, flags, data).
pub type MountSpec = (
    &'static str,
    &'static str,
    &'static str,
    libc::c_ulong,
    &'static str,
);

/// proc, sys, dev, devpts, shm, run, tmp and the cgroup2 hierarchy, in mount order.
pub const MOUNTS: &[MountSpec] = &[
    (
        "proc",
        "/proc",
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    ),
    ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
    (
        "devpts",
        "/dev/pts",
        "devpts",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    ),
    (
        "shm",
        "/dev/shm",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=1777",
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755",
    ),
    (
        "tmpfs",
        "/tmp",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=1777",
    ),
    (
        "cgroup2",
        "/sys/fs/cgroup",
        "cgroup2",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    ),
];

/// Mounts one filesystem, creating the target; an already mounted target (EBUSY) is fine.
pub fn mount(spec: &MountSpec) -> io::Result<()> {
    let (source, target, fstype, flags, data) = *spec;
    std::fs::create_dir_all(target)?;
    let (s, t, f, d) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            f.as_ptr(),
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                d.as_ptr().cast()
            },
        )
    };
    match check(r) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
        other => other,
    }
}

/// When the kernel found no `/dev/console` in the initramfs, PID 1 starts without
/// stdin/stdout/stderr: open the console (after `/dev` is mounted) onto 0, 1 and 2.
pub fn ensure_console() {
    // SAFETY: fcntl on a possibly closed descriptor only reports EBADF.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } >= 0 {
        return;
    }
    let Ok(path) = cstr("/dev/console") else {
        return;
    };
    // SAFETY: a valid path; the descriptor is dup'ed onto 0..=2 and closed if extra.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if fd >= 0 {
            for n in 0..3 {
                libc::dup2(fd, n);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

pub fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

/// `ip link set lo up`: services bind 127.0.0.1 and readiness checks connect to it.
pub fn loopback_up() -> io::Result<()> {
    let sock = Socket::inet()?;
    sock.set_up("lo")
}

/// An `AF_INET` datagram socket for interface ioctls, closed on drop.
struct Socket(libc::c_int);

impl Socket {
    fn inet() -> io::Result<Socket> {
        // SAFETY: no pointers.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket(fd))
    }

    /// A zeroed `ifreq` naming `dev` (at most 15 bytes, as the kernel's IFNAMSIZ allows).
    fn ifreq(dev: &str) -> io::Result<libc::ifreq> {
        if dev.is_empty() || dev.len() >= libc::IFNAMSIZ || dev.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{dev}` is not an interface name"),
            ));
        }
        // SAFETY: ifreq is a plain C struct (names and a union of plain values): all zero
        // bytes is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(dev.bytes()) {
            *d = s as libc::c_char;
        }
        Ok(ifr)
    }

    /// One ioctl on an `ifreq` that outlives it.
    fn ioctl(&self, request: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
        // SAFETY: `ifr` is a valid, exclusively borrowed ifreq for the call's duration.
        check(unsafe { libc::ioctl(self.0, request as _, ifr as *mut libc::ifreq) })
    }

    /// `ip link set DEV up`.
    fn set_up(&self, dev: &str) -> io::Result<()> {
        let mut ifr = Socket::ifreq(dev)?;
        self.ioctl(libc::SIOCGIFFLAGS, &mut ifr)?;
        // SAFETY: SIOCGIFFLAGS filled the union's flags member, which is read and set here.
        unsafe {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        self.ioctl(libc::SIOCSIFFLAGS, &mut ifr)
    }

    /// SIOCSIFADDR / SIOCSIFNETMASK: one IPv4 sockaddr in the ifreq's union.
    fn set_inet(&self, dev: &str, request: libc::c_ulong, addr: Ipv4Addr) -> io::Result<()> {
        let mut ifr = Socket::ifreq(dev)?;
        ifr.ifr_ifru.ifru_addr = sockaddr(addr);
        self.ioctl(request, &mut ifr)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe {
            libc::close(self.0);
        }
    }
}

/// An IPv4 address as the generic `sockaddr` the interface and route ioctls take.
fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16-byte plain C structs; the kernel reads
    // an AF_INET sockaddr as a sockaddr_in.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Linux's `struct rtentry` (`<linux/route.h>`; libc declares it for musl only), for
/// SIOCADDRT.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// `ip addr add ADDR/PREFIX dev DEV; ip link set DEV up; ip route add default via GW`:
/// what `stackwright.ip=` asks for, with the classic interface and route ioctls.
pub fn configure_ipv4(
    dev: &str,
    addr: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
) -> io::Result<()> {
    let sock = Socket::inet()?;
    let mask = Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    );
    let step = |what: &str, r: io::Result<()>| {
        r.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
    };
    step(
        "setting the address",
        sock.set_inet(dev, libc::SIOCSIFADDR, addr),
    )?;
    step(
        "setting the netmask",
        sock.set_inet(dev, libc::SIOCSIFNETMASK, mask),
    )?;
    step("bringing it up", sock.set_up(dev))?;
    if let Some(gw) = gateway {
        let name = cstr(dev)?;
        let mut rt = RtEntry {
            rt_pad1: 0,
            rt_dst: sockaddr(Ipv4Addr::UNSPECIFIED),
            rt_gateway: sockaddr(gw),
            rt_genmask: sockaddr(Ipv4Addr::UNSPECIFIED),
            rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
            rt_pad2: 0,
            rt_pad3: 0,
            rt_pad4: std::ptr::null_mut(),
            rt_metric: 0,
            rt_dev: name.as_ptr().cast_mut(),
            rt_mtu: 0,
            rt_window: 0,
            rt_irtt: 0,
        };
        // SAFETY: `rt` is a valid rtentry whose `rt_dev` points at `name`, which outlives
        // the call; the kernel only reads the name.
        let r =
            check(unsafe { libc::ioctl(sock.0, libc::SIOCADDRT as _, &mut rt as *mut RtEntry) });
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            r => step(&format!("adding the default route via {gw}"), r)?,
        }
    }
    Ok(())
}

/// Whether `/` is the initramfs (`rootfs`), where runc cannot `pivot_root`.
pub fn root_is_initramfs(mounts: &Path) -> bool {
    std::fs::read_to_string(mounts)
        .map(|m| m.lines().any(|l| l.starts_with("rootfs / ")))
        .unwrap_or(false)
}

/// What PID 1 does last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Poweroff,
    Reboot,
    Halt,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Poweroff => "poweroff",
            Action::Reboot => "reboot",
            Action::Halt => "halt",
        }
    }
}

/// Syncs and powers off, reboots or halts. Only returns on failure.
pub fn reboot(action: Action) -> io::Error {
    let cmd = match action {
        Action::Poweroff => libc::RB_POWER_OFF,
        Action::Reboot => libc::RB_AUTOBOOT,
        Action::Halt => libc::RB_HALT_SYSTEM,
    };
    // SAFETY: sync and reboot take no pointers.
    unsafe {
        libc::sync();
        libc::reboot(cmd);
    }
    io::Error::last_os_error()
}

/// Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting at once.
pub fn disable_cad() {
    // SAFETY: no pointers.
    unsafe {
        libc::reboot(libc::RB_DISABLE_CAD);
    }
}

/// Outside PID 1: orphaned descendants are re-parented to this process (and reaped).
pub fn become_subreaper() {
    // SAFETY: no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Catches busybox's conventions (SIGUSR2 poweroff, SIGTERM reboot, SIGUSR1 halt) and
/// SIGINT (Ctrl-Alt-Del); [`take_signal`] reports them. Handlers reset on exec, so the
/// containers start with default dispositions.
pub fn catch_signals() {
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with an async-signal-safe handler (one atomic store).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The shutdown a caught signal asks for, once.
pub fn take_signal() -> Option<Action> {
    match SIGNAL.swap(0, Ordering::SeqCst) {
        libc::SIGUSR2 => Some(Action::Poweroff),
        libc::SIGUSR1 => Some(Action::Halt),
        libc::SIGTERM | libc::SIGINT => Some(Action::Reboot),
        _ => None,
    }
}

pub fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: no pointers; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Code(i32),
    Signal(i32),
}

impl Status {
    fn from_raw(st: libc::c_int) -> Status {
        if libc::WIFEXITED(st) {
            Status::Code(libc::WEXITSTATUS(st))
        } else {
            Status::Signal(libc::WTERMSIG(st))
        }
    }

    pub fn success(self) -> bool {
        self == Status::Code(0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Code(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Reaps every child (as PID 1 must: orphans are re-parented to it) and hands the
/// statuses of the processes started through [`Reaper::spawn`] to their waiters.
#[derive(Default)]
pub struct Reaper {
    waiting: Mutex<HashMap<i32, SyncSender<Status>>>,
}

impl Reaper {
    /// Spawns `cmd`; the receiver gets its status once it ends. Holding the lock while
    /// spawning means the reaper cannot see the pid before its waiter is registered.
    pub fn spawn(
        &self,
        cmd: &mut std::process::Command,
    ) -> io::Result<(std::process::Child, Receiver<Status>)> {
        let mut map = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let child = cmd.spawn()?;
        let (tx, rx) = sync_channel(1);
        map.insert(child.id() as i32, tx);
        Ok((child, rx))
    }

    /// Runs forever (in its own thread).
    pub fn run(&self) -> ! {
        loop {
            let mut st: libc::c_int = 0;
            // SAFETY: `st` is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut st, 0) };
            if pid < 0 {
                // No children yet (ECHILD) or interrupted: try again shortly.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let tx = self
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pid);
            if let Some(tx) = tx {
                let _ = tx.send(Status::from_raw(st));
            }
        }
    }
}

/// Loads the kernel module in `file` (`finit_module`); loaded already is success.
pub fn load_module(file: &Path) -> io::Result<()> {
    let f = std::fs::File::open(file)?;
    use std::os::fd::AsRawFd;
    // SAFETY: an open file descriptor that outlives the call and an empty NUL-terminated
    // parameter string; no memory is handed to the kernel beyond the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            f.as_raw_fd(),
            c"".as_ptr(),
            0 as libc::c_int,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EEXIST) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initramfs_is_recognised_from_mounts() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mounts");
        std::fs::write(&p, "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n").unwrap();
        assert!(root_is_initramfs(&p));
        std::fs::write(&p, "/dev/vda / ext4 rw 0 0\n").unwrap();
        assert!(!root_is_initramfs(&p));
        assert!(!root_is_initramfs(&d.path().join("absent")));
    }

    #[test]
    fn statuses_read_as_people_say_them() {
        assert_eq!(Status::Code(3).to_string(), "exit status 3");
        assert_eq!(Status::Signal(9).to_string(), "signal 9");
        assert!(Status::Code(0).success() && !Status::Signal(15).success());
    }
}
