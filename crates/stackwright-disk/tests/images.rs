#![allow(clippy::print_stderr)] // says why it skips
//! Every format written from the same inputs twice, compared byte for byte, and checked
//! by its own tools: `sfdisk -d` (partition tables), `mdir` (the FAT's files),
//! `qemu-img info`, `xorriso -report_el_torito`. Booting them is the CLI's boot test.
//!
//! Needs Debian's grub-common, grub-pc-bin, grub-efi-amd64-bin, xorriso, qemu-utils,
//! fdisk and mtools (`cargo xtask test` installs them); missing ones fail with the
//! install command unless `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackwright_disk::{Format, Input};

fn tools_or_skip() -> bool {
    let mut missing: Vec<String> = stackwright_disk::TOOLS
        .iter()
        .filter_map(|t| t.find().err().map(|e| e.to_string()))
        .collect();
    for (p, pkg) in [("sfdisk", "fdisk"), ("mdir", "mtools")] {
        if !on_path(p) {
            missing.push(format!("{p} (apt-get install -y {pkg})"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
        eprintln!("skipping the disk image tests: {}", missing.join("; "));
        return false;
    }
    panic!(
        "{} (or set STACKWRIGHT_SKIP_BOOT_TESTS=1 to skip)",
        missing.join("; ")
    );
}

fn on_path(p: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(p).is_file())
}

/// A fake kernel and initrd (bytes from a fixed-seed generator: no two blocks alike).
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let k = dir.join("kernel");
    let i = dir.join("initrd.img");
    std::fs::write(&k, bytes(3 << 20)).unwrap();
    std::fs::write(&i, bytes(5 << 20)).unwrap();
    (k, i)
}

fn build(format: Format, k: &Path, i: &Path, out: &Path, size: Option<u64>, mtime: u64) {
    let input = Input {
        kernel: k,
        initrd: i,
        cmdline: "console=ttyS0 quiet",
        mtime,
        size,
        temp_dir: None,
    };
    stackwright_disk::write(format, &input, out).unwrap_or_else(|e| panic!("{format}: {e}"));
}

fn output(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_format_is_reproducible_and_well_formed() {
    if !tools_or_skip() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (k, i) = inputs(d.path());
    for f in Format::ALL {
        let a = d.path().join(format!("a-{}", f.file_name("p")));
        let b = d.path().join(format!("b-{}", f.file_name("p")));
        // 0 (no SOURCE_DATE_EPOCH) and a set one; xorriso's builds a second apart, so
        // that a time of the run (xorriso reads the clock) would show.
        for mtime in [0, 1_700_000_000] {
            build(f, &k, &i, &a, None, mtime);
            if f.container() == stackwright_disk::Container::Iso {
                std::thread::sleep(std::time::Duration::from_millis(1100));
            }
            build(f, &k, &i, &b, None, mtime);
            let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
            assert!(ba == bb, "{f}: two builds with mtime {mtime} differ");
        }
        let ba = std::fs::read(&a).unwrap();
        let len = ba.len() as u64;
        // Content is 8 MiB: every image is well under 16 MiB.
        assert!(len > 8 << 20 && len < 16 << 20, "{f}: {len} bytes");
        match f {
            Format::RawBios | Format::RawEfi => {
                let t = output(Command::new("sfdisk").arg("-d").arg(&a));
                if f == Format::RawBios {
                    assert!(t.contains("label: dos"), "{t}");
                    assert!(t.contains("start=        2048"), "{t}");
                    assert!(t.contains("bootable"), "{t}");
                } else {
                    assert!(t.contains("label: gpt"), "{t}");
                    assert!(
                        t.contains("type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
                        "{t}"
                    );
                }
                let dir = output(
                    Command::new("mdir")
                        .arg("-i")
                        .arg(format!("{}@@1M", a.display()))
                        .args(["-/", "-b", "::"]),
                );
                assert!(dir.contains("::/boot/kernel"), "{dir}");
                assert!(dir.contains("::/boot/initrd.img"), "{dir}");
                assert_eq!(f == Format::RawEfi, dir.contains("BOOTX64.EFI"), "{dir}");
                let kern = output(
                    Command::new("mtype")
                        .arg("-i")
                        .arg(format!("{}@@1M", a.display()))
                        .arg("::/boot/kernel"),
                );
                let _ = kern;
            }
            Format::Qcow2Bios | Format::Qcow2Efi => {
                let t = output(Command::new("qemu-img").args(["info"]).arg(&a));
                assert!(t.contains("file format: qcow2"), "{t}");
            }
            Format::IsoBios | Format::IsoEfi => {
                let t = output(
                    Command::new("xorriso")
                        .arg("-indev")
                        .arg(&a)
                        .args(["-report_el_torito", "plain"]),
                );
                let platform = if f == Format::IsoBios { "BIOS" } else { "UEFI" };
                assert!(t.contains(platform), "{t}");
                // The volume id is the content's: `SW_` + 29 hex digits of content_id.
                let t = output(
                    Command::new("xorriso")
                        .arg("-indev")
                        .arg(&a)
                        .arg("-pvd_info"),
                );
                let input = Input {
                    kernel: &k,
                    initrd: &i,
                    cmdline: "console=ttyS0 quiet",
                    mtime: 0,
                    size: None,
                    temp_dir: None,
                };
                let id = stackwright_disk::content_id(f.firmware(), &input).unwrap();
                let want = format!("Volume Id    : SW_{}", id[..29].to_ascii_uppercase());
                assert!(t.contains(&want), "{f}: want {want}:\n{t}");
                if f == Format::IsoEfi {
                    // The GPT's disk GUID follows from the content too, not (only) from
                    // the date: another command line at the same date gives another.
                    let other = d.path().join("other-efi.iso");
                    let input = Input {
                        cmdline: "console=ttyS0",
                        mtime: 1_700_000_000,
                        ..input
                    };
                    stackwright_disk::write(f, &input, &other).unwrap();
                    let label = |p: &Path| {
                        let t = output(Command::new("sfdisk").arg("-d").arg(p));
                        t.lines()
                            .find(|l| l.starts_with("label-id:"))
                            .unwrap_or_else(|| panic!("no label-id: {t}"))
                            .to_string()
                    };
                    assert_ne!(label(&a), label(&other));
                }
            }
        }
    }
}

#[test]
fn disk_size_grows_the_image_and_refuses_too_small() {
    if !tools_or_skip() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (k, i) = inputs(d.path());
    let out = d.path().join("p-efi.img");
    build(Format::RawEfi, &k, &i, &out, Some(64 << 20), 0);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 64 << 20);
    let input = Input {
        kernel: &k,
        initrd: &i,
        cmdline: "console=ttyS0",
        mtime: 0,
        size: Some(4 << 20),
        temp_dir: None,
    };
    let e = stackwright_disk::write(Format::RawBios, &input, &out).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
}
