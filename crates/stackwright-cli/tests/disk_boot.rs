#![allow(clippy::print_stderr)] // says why it skips
//! Every disk image format built from the boot test's kind of platform (Debian's cloud
//! kernel, the built-in stackwright-init, Debian's runc, busybox containers), checked by
//! its own tool, built a second time and compared byte for byte, and booted with
//! `stackwright run qemu FILE` to the service's console line and a clean poweroff: BIOS
//! images with qemu's SeaBIOS, EFI images with OVMF, ISO images as a CD-ROM. The six
//! boots run at the same time.
//!
//! Needs what the boot test needs plus Debian's grub-common, grub-pc-bin,
//! grub-efi-amd64-bin, xorriso, qemu-utils, ovmf and fdisk (`cargo xtask test` installs
//! them). Missing tools are a failure with the install command, unless
//! `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stackwright_testkit::boot::BootPlatform;
use stackwright_testkit::LocalRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

const FORMATS: &str = "raw-bios,raw-efi,qcow2-bios,qcow2-efi,iso-bios,iso-efi";
const FILES: [&str; 6] = [
    "disks-bios.img",
    "disks-efi.img",
    "disks.qcow2",
    "disks-efi.qcow2",
    "disks.iso",
    "disks-efi.iso",
];

fn missing() -> Option<String> {
    if let Some(why) = stackwright_testkit::boot::missing() {
        return Some(why);
    }
    let mut m: Vec<String> = stackwright_disk::TOOLS
        .iter()
        .filter_map(|t| t.find().err().map(|e| e.to_string()))
        .collect();
    if !stackwright_qemu::OVMF
        .iter()
        .any(|p| Path::new(p).is_file())
    {
        m.push(format!("OVMF ({})", stackwright_qemu::OVMF_HINT));
    }
    if stackwright_testkit::boot::which("sfdisk").is_none() {
        m.push("sfdisk (apt-get install -y fdisk)".into());
    }
    (!m.is_empty()).then(|| m.join("; "))
}

fn setup() -> Option<(BootPlatform, LocalRegistry)> {
    if let Some(why) = missing() {
        if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
            eprintln!("skipping the disk image boot test: {why}");
            return None;
        }
        panic!("{why} (or set STACKWRIGHT_SKIP_BOOT_TESTS=1 to skip)");
    }
    let reg = LocalRegistry::start_or_skip()?;
    let p = BootPlatform::new(&reg);
    Some((p, reg))
}

fn assemble(p: &BootPlatform, assembly: &Path, out: &Path) {
    let mut args = p.assemble_args(assembly, out);
    let last = args.len() - 1;
    args[last] = FORMATS.into();
    let a = Command::new(BIN)
        .args(&args)
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
}

fn tool(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_disk_image_is_reproducible_and_boots_to_poweroff() {
    let Some((p, _reg)) = setup() else { return };
    p.container(
        "hello",
        "onboot",
        "",
        "",
        "echo hello from a disk image",
        "",
    );
    p.poweroff("shutdown", "", "");
    let asm = p.assembly("disks", &["hello", "shutdown"]);
    // A disk image boots its own cmdline (run cannot add to it): `panic=-1` so a panic
    // ends qemu, `no_timer_check` because on a loaded host TCG's timer can look broken to
    // the kernel's IO-APIC check ("IO-APIC + timer doesn't work!"), a panic seen here.
    let text = std::fs::read_to_string(&asm).unwrap();
    let cmdline = stackwright_testkit::boot::CMDLINE;
    let text = text.replace(
        &format!("cmdline = \"{cmdline}\""),
        &format!("cmdline = \"{cmdline} panic=-1 no_timer_check\""),
    );
    assert!(
        text.contains("no_timer_check"),
        "the assembly's cmdline moved:\n{text}"
    );
    std::fs::write(&asm, text).unwrap();
    let out = p.dir.path().join("out/disks");
    let again = p.dir.path().join("out/again");
    assemble(&p, &asm, &out);
    assemble(&p, &asm, &again);
    for f in FILES {
        let a = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let b = std::fs::read(again.join(f)).unwrap();
        assert!(a == b, "{f}: two builds of the same platform differ");
    }
    let _ = std::fs::remove_dir_all(&again);

    let sfdisk = |f: &str| tool(Command::new("sfdisk").arg("-d").arg(out.join(f)));
    let t = sfdisk("disks-bios.img");
    assert!(t.contains("label: dos") && t.contains("bootable"), "{t}");
    let t = sfdisk("disks-efi.img");
    assert!(
        t.contains("label: gpt") && t.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        "{t}"
    );
    for f in ["disks.qcow2", "disks-efi.qcow2"] {
        let t = tool(Command::new("qemu-img").arg("info").arg(out.join(f)));
        assert!(t.contains("file format: qcow2"), "{f}: {t}");
    }
    for (f, platform) in [("disks.iso", "BIOS"), ("disks-efi.iso", "UEFI")] {
        let t = tool(
            Command::new("xorriso")
                .arg("-indev")
                .arg(out.join(f))
                .args(["-report_el_torito", "plain"]),
        );
        assert!(t.contains(platform), "{f}: {t}");
    }

    // All six at once: each in its own directory (a run writes its status file beside
    // the image). The two qcow2 images swap names: `run` must read the firmware from the
    // disk inside, not from `-efi` in the name (SeaBIOS cannot boot the EFI image, OVMF
    // not the BIOS one).
    let runs: Vec<_> = FILES
        .iter()
        .map(|f| {
            let dir = p.dir.path().join("run").join(f);
            std::fs::create_dir_all(&dir).unwrap();
            let booted_as = match *f {
                "disks.qcow2" => "disks-efi.qcow2",
                "disks-efi.qcow2" => "disks.qcow2",
                other => other,
            };
            let image: PathBuf = dir.join(booted_as);
            std::fs::rename(out.join(f), &image).unwrap();
            let f = f.to_string();
            std::thread::spawn(move || {
                let r = Command::new(BIN)
                    .args(["run", "qemu", "--kvm", "auto"])
                    .arg(&image)
                    .args(["--timeout", "600", "--mem", "512"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                (
                    f,
                    r.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&r.stdout).into_owned(),
                    String::from_utf8_lossy(&r.stderr).into_owned(),
                )
            })
        })
        .collect();
    let mut failures = Vec::new();
    for r in runs {
        let (f, code, console, stderr) = r.join().unwrap();
        let ok = code == 0
            && console.contains("[hello] hello from a disk image")
            && console.contains("[shutdown] powering off")
            && stderr.contains("powered off cleanly");
        eprintln!("{f}: exit {code}; {}", stderr.trim());
        if !ok {
            failures.push(format!("{f}: exit {code}\n{console}\n--- stderr\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
