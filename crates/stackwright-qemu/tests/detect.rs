#![allow(clippy::print_stderr)] // says why it skips
//! `find_disk` on real images (written by stackwright-disk with Debian's GRUB, xorriso and
//! qemu-img) under names that say the opposite firmware: the kind comes from the bytes —
//! for qcow2, from the disk read through the image's own L1/L2 tables.
//!
//! Needs grub-common, grub-pc-bin, grub-efi-amd64-bin, xorriso and qemu-utils (`cargo
//! xtask test` installs them); missing ones fail unless `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use stackwright_disk::{Container, Firmware, Format, Input};

#[test]
fn every_format_is_recognised_under_a_misleading_name() {
    let missing: Vec<String> = stackwright_disk::TOOLS
        .iter()
        .filter_map(|t| t.find().err().map(|e| e.to_string()))
        .collect();
    if !missing.is_empty() {
        if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
            eprintln!("skipping: {}", missing.join("; "));
            return;
        }
        panic!("{} (or STACKWRIGHT_SKIP_BOOT_TESTS=1)", missing.join("; "));
    }
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("kernel");
    let i = d.path().join("initrd.img");
    std::fs::write(&k, vec![0x5a; 300 << 10]).unwrap();
    std::fs::write(&i, vec![0xa5; 200 << 10]).unwrap();
    let input = Input {
        kernel: &k,
        initrd: &i,
        cmdline: "console=ttyS0",
        mtime: 0,
        size: None,
        temp_dir: None,
    };
    for f in Format::ALL {
        // The other firmware's file name: what a name-based guess would get wrong.
        let other = match f.firmware() {
            Firmware::Bios => "p-efi",
            Firmware::Efi => "p-bios",
        };
        let ext = match f.container() {
            Container::Raw => "img",
            Container::Qcow2 => "qcow2",
            Container::Iso => "iso",
        };
        let out = d.path().join(format!("{other}.{ext}"));
        stackwright_disk::write(f, &input, &out).unwrap_or_else(|e| panic!("{f}: {e}"));
        let g = stackwright_qemu::find_disk(&out).unwrap();
        assert_eq!(
            (g.container, g.firmware),
            (f.container(), Some(f.firmware())),
            "{f} written to {}",
            out.display()
        );
        std::fs::remove_file(&out).unwrap();
    }
}
