#![allow(clippy::print_stderr)] // says why it skips
//! Boots what Stackwright builds, on a real kernel under qemu (TCG unless KVM works).
//!
//! The platform is made of images this test makes itself in a local registry: Debian's
//! cloud kernel, runc (Debian's binary and the libraries `ldd` lists), busybox for the
//! containers, plus the built-in `stackwright-init` (its image made by Stackwright). It has
//! one onboot container, a service that another waits for (TCP readiness), a service that
//! crashes once and is restarted, a poweroff service (`pid = "host"`, `CAP_SYS_BOOT`,
//! `busybox poweroff`, which asks the init) and two onshutdown containers, run in reverse
//! dependency order. `stackwright assemble --pull --format kernel+initrd` builds
//! it and `stackwright run qemu` boots it; the order is asserted from the console. A
//! second platform with a failing onboot container must exit 1 naming it.
//!
//! Needs qemu-system-x86_64, busybox (static), runc and the kernel that `cargo xtask test`
//! fetches into `target/boot-kernel/` (or `STACKWRIGHT_TEST_KERNEL=<vmlinuz>`). Missing
//! tools are a failure with the install command, unless `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::path::Path;
use std::process::{Command, Stdio};

use stackwright_testkit::boot::BootPlatform;
use stackwright_testkit::LocalRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn setup() -> Option<(BootPlatform, LocalRegistry)> {
    if let Some(why) = stackwright_testkit::boot::missing() {
        if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
            eprintln!("skipping the boot test: {why}");
            return None;
        }
        panic!("{why} (or set STACKWRIGHT_SKIP_BOOT_TESTS=1 to skip)");
    }
    let reg = LocalRegistry::start_or_skip()?;
    let p = BootPlatform::new(&reg);
    Some((p, reg))
}

/// assemble --pull --format kernel+initrd, then run qemu; (exit code, stdout, stderr).
fn boot(p: &BootPlatform, assembly: &Path) -> (i32, String, String) {
    let out = p.dir.path().join("out").join(assembly.file_stem().unwrap());
    let a = Command::new(BIN)
        .args(p.assemble_args(assembly, &out))
        .env("HOME", p.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        a.status.success(),
        "assemble failed:\n{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&a.stderr)
    );
    let r = Command::new(BIN)
        .args(["run", "qemu", "--kvm", "auto"])
        .arg(&out)
        .args(["--timeout", "120", "--mem", "512"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        r.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    )
}

fn line_of(console: &str, needle: &str) -> usize {
    console
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` is not on the console:\n{console}"))
}

#[test]
fn a_platform_boots_in_dependency_order_and_powers_off() {
    let Some((p, _reg)) = setup() else { return };
    let asm = p.full();
    let (code, console, stderr) = boot(&p, &asm);
    let all = format!("{console}\n--- stderr\n{stderr}");
    assert_eq!(code, 0, "run qemu exit code\n{all}");
    let onboot = line_of(&console, "[hello] hello from onboot");
    let first_service = line_of(&console, "service db: starting");
    assert!(
        onboot < first_service,
        "onboot ran before any service\n{all}"
    );
    let ready = line_of(&console, "service db: ready (tcp 127.0.0.1:7000)");
    let app = line_of(&console, "service app: starting");
    assert!(ready < app, "app started only after db was ready\n{all}");
    line_of(&console, "[app] app started after db");
    let crash = line_of(&console, "[flaky] flaky crashing");
    let restart = line_of(&console, "service flaky: restarting in 200 ms");
    let again = line_of(&console, "[flaky] flaky second life");
    assert!(
        crash < restart && restart < again,
        "flaky was restarted\n{all}"
    );
    let off = line_of(&console, "[shutdown] powering off");
    // The init's own shutdown (SIGUSR2 from `busybox poweroff`): services stopped, then
    // onshutdown in reverse dependency order (goodbye requires flush: goodbye first).
    let stopping = line_of(&console, "poweroff: stopping services");
    let goodbye = line_of(&console, "[goodbye] goodbye runs first");
    let flush = line_of(&console, "[flush] flush runs last");
    assert!(
        off < stopping && stopping < goodbye && goodbye < flush,
        "onshutdown ran after the services stopped, goodbye before flush\n{all}"
    );
    assert!(stderr.contains("powered off cleanly"), "{all}");
}

#[test]
fn a_failing_onboot_container_fails_the_run_and_is_named() {
    let Some((p, _reg)) = setup() else { return };
    p.container("broken", "onboot", "", "", "echo about to fail; exit 3", "");
    p.poweroff("shutdown", "", "");
    let asm = p.assembly("fails", &["broken", "shutdown"]);
    let (code, console, stderr) = boot(&p, &asm);
    let all = format!("{console}\n--- stderr\n{stderr}");
    assert_eq!(code, 1, "run qemu exit code\n{all}");
    assert!(
        stderr.contains("failed: onboot broken: exited with exit status 3"),
        "{all}"
    );
    line_of(&console, "FAILED onboot broken: exited with exit status 3");
}

#[test]
fn a_data_disk_is_the_guests_dev_vda() {
    let Some((p, _reg)) = setup() else { return };
    p.container(
        "disk",
        "onboot",
        "",
        "binds = [\"/dev:/dev\"]",
        "[ -b /dev/vda ] && echo data disk /dev/vda is a block device",
        "",
    );
    p.poweroff("shutdown", "", "");
    let asm = p.assembly("disk", &["disk", "shutdown"]);
    // Debian's cloud kernel has virtio as modules: the init loads them (`kernel.tar`).
    let modules = stackwright_testkit::boot::VIRTIO_MODULES[..6].join(",");
    let cmdline = stackwright_testkit::boot::CMDLINE;
    let text = std::fs::read_to_string(&asm).unwrap().replace(
        &format!("cmdline = \"{cmdline}\""),
        &format!("cmdline = \"{cmdline} stackwright.modules={modules}\""),
    );
    assert!(text.contains("stackwright.modules="), "{text}");
    std::fs::write(&asm, text).unwrap();
    let out = p.dir.path().join("out/disk");
    let a = Command::new(BIN)
        .args(p.assemble_args(&asm, &out))
        .env("HOME", p.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let r = Command::new(BIN)
        .args(["run", "qemu", "--kvm", "auto"])
        .arg(&out)
        .args(["--timeout", "300", "--mem", "512", "--disk", "64M"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&r.stdout);
    let all = format!(
        "{console}\n--- stderr\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(r.status.code(), Some(0), "{all}");
    line_of(&console, "module virtio_blk: loaded");
    line_of(&console, "[disk] data disk /dev/vda is a block device");
    let len = std::fs::metadata(out.join("data-disk.img")).unwrap().len();
    assert_eq!(len, 64 << 20, "the data disk is kept beside the output");
}

/// `run qemu --publish 127.0.0.1:PORT:8080`: the guest gets a virtio NIC and, on its
/// command line, `stackwright.ip=` (the init loads the NIC's modules, sets the address and
/// the default route before any container); a host-network service answers on 8080; the
/// test reads that answer on the host through qemu's forward, and the service then powers
/// the guest off.
#[test]
fn a_published_port_reaches_a_guest_service() {
    use std::io::Read;
    let Some((p, _reg)) = setup() else { return };
    p.container(
        "web",
        "service",
        "",
        "net = \"host\"\npid = \"host\"\ncapabilities = [\"CAP_SYS_BOOT\"]",
        "echo web listening; echo hello through the forward | /bin/busybox nc -l -p 8080; echo web served; /bin/busybox poweroff",
        "",
    );
    let asm = p.assembly("web", &["web"]);
    let out = p.dir.path().join("out/web");
    let a = Command::new(BIN)
        .args(p.assemble_args(&asm, &out))
        .env("HOME", p.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut run = Command::new(BIN)
        .args(["run", "qemu", "--kvm", "auto"])
        .arg(&out)
        .args(["--timeout", "300", "--mem", "512", "--publish"])
        .arg(format!("127.0.0.1:{port}:8080"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stdout, mut stderr) = (run.stdout.take().unwrap(), run.stderr.take().unwrap());
    let console = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Until the guest listens, qemu accepts on the host and closes at once: try again.
    let mut answer = String::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while std::time::Instant::now() < until && !answer.contains("hello through the forward") {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(30)));
            answer.clear();
            let mut buf = [0u8; 256];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                if answer.contains('\n') {
                    break;
                }
            }
        }
        if run.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let status = run.wait().unwrap();
    let (console, stderr) = (console.join().unwrap(), errors.join().unwrap());
    let all = format!("{console}\n--- stderr\n{stderr}");
    assert!(
        answer.contains("hello through the forward"),
        "the host read the guest service's answer through the forward (got {answer:?})\n{all}"
    );
    assert_eq!(status.code(), Some(0), "{all}");
    let net = line_of(&console, "network eth0: 10.0.2.15/24 via 10.0.2.2");
    let web = line_of(&console, "service web: starting");
    assert!(
        net < web,
        "the network was up before the service started\n{all}"
    );
    line_of(&console, "[web] web served");
}
