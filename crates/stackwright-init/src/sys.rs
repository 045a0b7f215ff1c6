//! The few system calls PID 1 needs: mounts, host name, loopback, reaping, signals,
//! poweroff. Everything here is a thin, checked wrapper over `libc`.
//!
//! Safety model: every `unsafe` block is one system call (or a zeroed plain C struct for
//! one), with pointers to locals or `CString`s that outlive the call; no memory is shared
//! with the kernel beyond the call, and results are checked. The signal handler only
//! stores into an atomic.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
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
    // SAFETY: a plain datagram socket, an ifreq zeroed then named "lo", closed at the end.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        let mut r = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr);
        if r >= 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if r < 0 {
            Err(err)
        } else {
            Ok(())
        }
    }
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
