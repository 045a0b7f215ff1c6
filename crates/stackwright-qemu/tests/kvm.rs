#![allow(clippy::print_stderr)] // says why it skips
//! `--kvm auto` against a real qemu: the probe's verdict holds for the guest it was asked
//! about, and a guest that fails under KVM before it runs is started again under TCG.
//!
//! The guest is a 1 MiB raw disk whose boot sector (written below) prints a line on the
//! first serial port and then triple-faults, which `-no-reboot` turns into qemu's exit: a
//! fraction of a second under TCG, with qemu's own SeaBIOS.
//!
//! Needs qemu-system-x86_64 (`cargo xtask test` installs it); missing, it fails unless
//! `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use stackwright_qemu::{Guest, Kvm, Notice, Options};

const HELLO: &str = "hello from the boot sector";

/// A BIOS boot sector: print [`HELLO`] on COM1 (port 0x3f8), load an empty IDT, `int3`
/// (a triple fault: the guest resets, and qemu with `-no-reboot` exits 0).
fn boot_sector() -> Vec<u8> {
    const LOAD: u16 = 0x7c00;
    let msg = format!("{HELLO}\r\n\0");
    let msg_at = 27u16;
    let idtr_at = msg_at + msg.len() as u16;
    let mut b = vec![
        0x31, 0xc0, // xor ax, ax
        0x8e, 0xd8, // mov ds, ax
        0xfc, // cld
        0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0xbe, // mov si, msg
    ];
    b.extend_from_slice(&(LOAD + msg_at).to_le_bytes());
    b.extend_from_slice(&[
        0xac, // lodsb
        0x84, 0xc0, // test al, al
        0x74, 0x03, // jz +3 (to lidt)
        0xee, // out dx, al
        0xeb, 0xf8, // jmp -8 (to lodsb)
        0x0f, 0x01, 0x1e, // lidt [idtr]
    ]);
    b.extend_from_slice(&(LOAD + idtr_at).to_le_bytes());
    b.extend_from_slice(&[
        0xcc, // int3
        0xeb, 0xfe, // jmp $
    ]);
    assert_eq!(b.len(), usize::from(msg_at));
    b.extend_from_slice(msg.as_bytes());
    b.extend_from_slice(&[0; 6]); // the IDT register: limit 0, base 0
    b.resize(510, 0);
    b.extend_from_slice(&[0x55, 0xaa]);
    // SeaBIOS does not read a disk of a few sectors.
    b.resize(1 << 20, 0);
    b
}

fn qemu() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(stackwright_qemu::QEMU))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why = format!(
            "{} is not installed ({})",
            stackwright_qemu::QEMU,
            stackwright_qemu::INSTALL_HINT
        );
        if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
            eprintln!("skipping: {why}");
            return None;
        }
        panic!("{why} (or STACKWRIGHT_SKIP_BOOT_TESTS=1)");
    }
    found
}

fn guest(dir: &Path) -> Guest {
    let img = dir.join("hello.img");
    std::fs::write(&img, boot_sector()).unwrap();
    stackwright_qemu::find(&img).unwrap()
}

/// A console that keeps what it is given.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Console {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn opts(qemu: PathBuf, kvm: Kvm) -> Options {
    Options {
        mem: "64".into(),
        timeout: Some(std::time::Duration::from_secs(120)),
        kvm,
        qemu: Some(qemu),
        ..Options::default()
    }
}

/// The probe's verdict holds for the guest: where it says KVM works, the guest runs under
/// KVM; where it says no, qemu under KVM dies before the guest printed a byte (on one CI
/// machine: `failed to set MSR 0x10a`, an abort) — or the host's KVM is PVM, which runs
/// this boot sector but not a stock kernel — and `auto` boots it under TCG without a
/// second try.
#[test]
fn the_probe_answers_for_the_guest_and_auto_boots_it() {
    let Some(qemu) = qemu() else { return };
    let d = tempfile::tempdir().unwrap();
    let g = guest(d.path());
    let verdict = stackwright_qemu::kvm_check(&qemu, &g, &opts(qemu.clone(), Kvm::Auto));
    eprintln!("kvm_check: {verdict:?}");
    // PVM's no is about the 64-bit kernels Stackwright boots, which stop under it; this
    // real-mode boot sector runs there (PVM emulates real mode), but its triple fault does
    // not end qemu: nothing to run under KVM.
    if verdict.as_ref().err().map(String::as_str) != Some(stackwright_qemu::KVM_PVM) {
        the_verdict_holds_under_kvm(&qemu, &g, d.path(), &verdict);
    }
    let c = Console::default();
    let mut notices = Vec::new();
    let r = stackwright_qemu::run_with(
        &g,
        &opts(qemu.clone(), Kvm::Auto),
        Box::new(c.clone()),
        &mut |n| notices.push(n.clone()),
    )
    .unwrap();
    assert!(c.text().contains(HELLO), "{}", c.text());
    assert_eq!(r.kvm, verdict.is_ok());
    assert_eq!(r.kvm_unused, verdict.err());
    assert!(notices.is_empty(), "the probe decided: {notices:?}");
}

/// Runs the guest's own command line under KVM, as it is, and checks it does what the
/// probe said.
fn the_verdict_holds_under_kvm(qemu: &Path, g: &Guest, dir: &Path, verdict: &Result<(), String>) {
    let status = dir.join("s");
    let out = stackwright_qemu::command(
        qemu,
        g,
        &opts(qemu.to_path_buf(), Kvm::On),
        true,
        &status,
        None,
    )
    .unwrap()
    .stdin(Stdio::null())
    .output()
    .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match verdict {
        Ok(()) => assert!(
            out.status.success() && console.contains(HELLO),
            "the probe said KVM works, but the guest under KVM: {}\n{console}\n{stderr}",
            out.status
        ),
        Err(why) => assert!(
            !out.status.success() && console.is_empty(),
            "the probe said no ({why}), but the guest ran under KVM: {}\n{console}",
            out.status
        ),
    }
}

/// A qemu whose probe passes but whose guest then fails under KVM, before the guest ran
/// (what a loaded CI machine saw): `auto` says so once and boots the same guest under TCG.
/// The probe is shown the machine without `-cpu host` (a wrapper around the real qemu);
/// on a VM without nested virtualisation, as the CI machine, KVM takes that machine but
/// aborts on the guest's (`-cpu host`: failed to set MSR 0x10a).
#[test]
fn a_guest_that_fails_under_kvm_before_it_runs_is_booted_under_tcg() {
    let Some(qemu) = qemu() else { return };
    let d = tempfile::tempdir().unwrap();
    let g = guest(d.path());
    let wrapper = d.path().join("qemu-probe-without-cpu-host");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             probe=; for a in \"$@\"; do [ \"$a\" = -S ] && probe=1; done\n\
             if [ -n \"$probe\" ]; then\n\
             \x20 skip=; for a in \"$@\"; do shift\n\
             \x20   if [ -n \"$skip\" ]; then skip=; continue; fi\n\
             \x20   if [ \"$a\" = -cpu ]; then skip=1; continue; fi\n\
             \x20   set -- \"$@\" \"$a\"; done\n\
             fi\n\
             exec '{}' \"$@\"\n",
            qemu.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let probe = stackwright_qemu::kvm_check(&wrapper, &g, &opts(wrapper.clone(), Kvm::Auto));
    let real = stackwright_qemu::kvm_check(&qemu, &g, &opts(qemu.clone(), Kvm::Auto));
    eprintln!("probe without -cpu host: {probe:?}; with: {real:?}");
    let c = Console::default();
    let mut notices = Vec::new();
    let r = stackwright_qemu::run_with(
        &g,
        &opts(wrapper.clone(), Kvm::Auto),
        Box::new(c.clone()),
        &mut |n| notices.push(n.clone()),
    )
    .unwrap();
    let console = c.text();
    assert_eq!(
        console.matches(HELLO).count(),
        1,
        "the guest ran once: {console}"
    );
    match (&probe, &real) {
        // The CI machine's case: the wrapped probe passes, the guest's machine does not.
        (Ok(()), Err(_)) => {
            let [Notice::KvmFallback { reason }] = notices.as_slice() else {
                panic!("one fallback notice: {notices:?}");
            };
            assert!(!r.kvm, "booted under TCG");
            assert!(
                r.kvm_unused
                    .as_deref()
                    .is_some_and(|u| u.contains(reason.as_str())),
                "{:?} / {reason}",
                r.kvm_unused
            );
            eprintln!("fell back: {reason}");
        }
        // KVM works (no fallback needed) or is absent (the probe said no).
        _ => {
            assert!(notices.is_empty(), "{notices:?}");
            assert_eq!(r.kvm, probe.is_ok());
        }
    }
    // `--kvm on` never falls back: the guest's failure under KVM is the run's error.
    if let (Ok(()), Err(_)) = (&probe, &real) {
        let e = stackwright_qemu::run(
            &g,
            &opts(wrapper.clone(), Kvm::On),
            Box::new(std::io::sink()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("exited with"), "{e}");
    }
}
