//! GRUB images made by `grub-mkimage` with an embedded configuration: `core.img` for the
//! MBR gap (i386-pc), an El Torito image (i386-pc-eltorito) and `BOOTX64.EFI`
//! (x86_64-efi). grub-mkimage's output is the same for the same modules and config.

use std::path::Path;
use std::process::Command;

use crate::tools::{self, GRUB_EFI, GRUB_MKIMAGE, GRUB_PC};
use crate::DiskError;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// `core.img`, loaded by `boot.img` from the sectors after the MBR.
    Pc,
    /// `cdboot.img` + `core.img`, an El Torito no-emulation image.
    PcEltorito,
    /// A standalone EFI application.
    Efi,
}

/// What the embedded configuration needs: disks, partition tables, file systems,
/// `search`, `linux`/`initrd`, `boot`.
const COMMON: &[&str] = &[
    "part_msdos",
    "part_gpt",
    "fat",
    "iso9660",
    "search",
    "search_fs_file",
    "linux",
    "boot",
];

pub(crate) fn image(target: Target, config: &str, temp: &Path) -> Result<Vec<u8>, DiskError> {
    let (format, dir, extra): (&str, _, &[&str]) = match target {
        Target::Pc => ("i386-pc", GRUB_PC, &["biosdisk"]),
        Target::PcEltorito => ("i386-pc-eltorito", GRUB_PC, &["biosdisk"]),
        Target::Efi => ("x86_64-efi", GRUB_EFI, &[]),
    };
    let cfg = temp.join(format!("grub-{format}.cfg"));
    std::fs::write(&cfg, config).map_err(|e| DiskError::io(&cfg, e))?;
    let out = temp.join(format!("grub-{format}.img"));
    tools::run(
        GRUB_MKIMAGE,
        Command::new(GRUB_MKIMAGE.find()?)
            .arg("-O")
            .arg(format)
            .arg("-d")
            .arg(dir.find()?)
            .arg("-o")
            .arg(&out)
            .args(["-p", "/boot/grub"])
            .arg("-c")
            .arg(&cfg)
            .args(COMMON)
            .args(extra),
    )?;
    std::fs::read(&out).map_err(|e| DiskError::io(&out, e))
}

/// GRUB's MBR boot code (`boot.img`): its defaults load `core.img` from sector 1, where
/// [`crate::part::write_mbr`] puts it, and diskboot's default block list (sector 2
/// onwards) is where the rest of `core.img` follows.
pub(crate) fn boot_img() -> Result<Vec<u8>, DiskError> {
    let p = GRUB_PC.find()?.join("boot.img");
    std::fs::read(&p).map_err(|e| DiskError::io(&p, e))
}

/// The hybrid MBR xorriso puts on a BIOS ISO (`--grub2-mbr`).
pub(crate) fn boot_hybrid_img() -> Result<std::path::PathBuf, DiskError> {
    Ok(GRUB_PC.find()?.join("boot_hybrid.img"))
}
