//! ISO 9660 images made by xorriso (`-as mkisofs`), hybrid so that the same file boots as
//! a CD-ROM and as a disk:
//!
//! - BIOS: GRUB's El Torito image (`cdboot.img` + `core.img`, no emulation, boot info
//!   table) and GRUB's hybrid MBR (`--grub2-mbr boot_hybrid.img`, `--grub2-boot-info`),
//!   which loads the same `core.img` when the image is a disk;
//! - EFI: an El Torito EFI image (a small FAT with `EFI/BOOT/BOOTX64.EFI`), also an EFI
//!   system partition in the image's GPT (`-efi-boot-part --efi-boot-image`) behind a
//!   protective MBR.
//!
//! The kernel and initrd are grafted in from where they are (no copies). xorriso runs
//! with `SOURCE_DATE_EPOCH` and `--set_all_file_dates` set to
//! [`Input::mtime`](crate::Input) (at least 1: xorriso reads 0 as unset): every date
//! and the volume's UUID (a date, as GRUB reads it) follow from it. The volume id
//! ([`volume_id`]) and the GPT disk GUID (xorriso derives the partition GUIDs from it)
//! follow from the content id.

use std::path::Path;
use std::process::Command;

use crate::grub::{self, Target};
use crate::tools::{self, XORRISO};
use crate::{DiskError, Firmware, Input, Source, MIB};

/// The volume id: `SW_` and the first 29 hex digits (upper case) of the content id — 32
/// ISO 9660 d-characters (`A-Z 0-9 _`, at most 32), the same for the same inputs, and
/// different for a different kernel, initrd, command line or firmware (116 bits: two
/// platforms never share one by chance).
pub(crate) fn volume_id(id: &str) -> String {
    let hex: String = id.chars().take(29).collect();
    format!("SW_{}", hex.to_ascii_uppercase())
}

/// The GPT disk GUID xorriso writes (32 hex digits), from the content id, with the
/// version and variant bits of a random GUID.
fn gpt_disk_guid(id: &str) -> String {
    crate::part::guid(id, "iso gpt disk guid")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn write(
    firmware: Firmware,
    input: &Input,
    id: &str,
    temp: &Path,
    out: &Path,
) -> Result<(), DiskError> {
    let config = crate::grub_config(id, input.cmdline);
    let mut grafts: Vec<(String, std::path::PathBuf)> = Vec::new();
    for (path, source) in crate::payload(input, id) {
        let at = match source {
            Source::File(p) => p.to_path_buf(),
            Source::Bytes(b) => {
                let p = temp.join(path.replace('/', "_"));
                std::fs::write(&p, b).map_err(|e| DiskError::io(&p, e))?;
                p
            }
        };
        grafts.push((path, at));
    }
    let mut cmd = Command::new(XORRISO.find()?);
    cmd.args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(out)
        .arg("-V")
        .arg(volume_id(id))
        .arg("--gpt_disk_guid")
        .arg(gpt_disk_guid(id))
        .args(["-r", "-graft-points", "--set_all_file_dates"])
        // `=N`: seconds since 1970; also the dates of the directories grafting creates,
        // which SOURCE_DATE_EPOCH alone leaves at the time of the run. xorriso takes 0 as
        // "not set" (then it uses the files' own times), so 0 becomes 1 second.
        .arg(format!("={}", input.mtime.max(1)))
        .env("SOURCE_DATE_EPOCH", input.mtime.max(1).to_string());
    match firmware {
        Firmware::Bios => {
            let img = temp.join("bios.img");
            let bytes = grub::image(Target::PcEltorito, &config, temp)?;
            std::fs::write(&img, bytes).map_err(|e| DiskError::io(&img, e))?;
            grafts.push(("boot/grub/bios.img".into(), img));
            cmd.args(["-b", "boot/grub/bios.img", "-no-emul-boot"])
                .args([
                    "-boot-load-size",
                    "4",
                    "-boot-info-table",
                    "--grub2-boot-info",
                ])
                .arg("--grub2-mbr")
                .arg(grub::boot_hybrid_img()?);
        }
        Firmware::Efi => {
            let efi = grub::image(Target::Efi, &config, temp)?;
            let img = temp.join("efi.img");
            let len = crate::fat_size([efi.len() as u64]).max(2 * MIB);
            let f = std::fs::OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&img)
                .map_err(|e| DiskError::io(&img, e))?;
            f.set_len(len).map_err(|e| DiskError::io(&img, e))?;
            crate::fat::write(
                &f,
                0,
                len,
                id,
                input.mtime,
                &[("EFI/BOOT/BOOTX64.EFI".into(), Source::Bytes(efi))],
            )
            .map_err(|e| DiskError::io(&img, e))?;
            drop(f);
            grafts.push(("boot/grub/efi.img".into(), img));
            cmd.args(["-e", "boot/grub/efi.img", "-no-emul-boot"])
                .args([
                    "-efi-boot-part",
                    "--efi-boot-image",
                    "--protective-msdos-label",
                ]);
        }
    }
    cmd.args(["-c", "boot/boot.cat"]);
    grafts.sort();
    for (at, from) in &grafts {
        let mut spec = std::ffi::OsString::from(format!("/{at}="));
        spec.push(from);
        cmd.arg(spec);
    }
    tools::run(XORRISO, &mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_volume_id_is_32_d_characters_from_the_content() {
        let a = volume_id(&"0123456789abcdef".repeat(4));
        assert_eq!(a, "SW_0123456789ABCDEF0123456789ABC");
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
        assert_ne!(a, volume_id(&"1123456789abcdef".repeat(4)));
        assert_eq!(gpt_disk_guid(&"ab".repeat(32)).len(), 32);
    }
}
