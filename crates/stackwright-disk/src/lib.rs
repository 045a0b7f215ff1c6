//! Bootable disk images of a kernel, an initrd and a kernel command line, with LinuxKit's
//! file names:
//!
//! | format       | file                 | boots with                                             |
//! |--------------|----------------------|--------------------------------------------------------|
//! | `raw-bios`   | `<name>-bios.img`    | MBR, GRUB's `boot.img` + `core.img` before the FAT partition |
//! | `raw-efi`    | `<name>-efi.img`     | GPT, one EFI system partition (FAT) with GRUB as `BOOTX64.EFI` |
//! | `qcow2-bios` | `<name>.qcow2`       | `raw-bios` converted by `qemu-img convert`             |
//! | `qcow2-efi`  | `<name>-efi.qcow2`   | `raw-efi` converted by `qemu-img convert`              |
//! | `iso-bios`   | `<name>.iso`         | ISO 9660 (xorriso), El Torito GRUB image, hybrid MBR   |
//! | `iso-efi`    | `<name>-efi.iso`     | ISO 9660 (xorriso), El Torito EFI FAT image, GPT entry |
//!
//! Every image holds `/boot/kernel`, `/boot/initrd.img` and a marker file
//! `/boot/stackwright-<id>`; the GRUB image (made by `grub-mkimage` from Debian's
//! `grub-pc-bin` / `grub-efi-amd64-bin` modules) carries an embedded configuration that
//! finds the marker (`search --file`), loads the kernel with the command line and the
//! initrd, and boots. No menu, no timeout, no files GRUB would read at boot.
//!
//! **Reproducible**: the same inputs give the same bytes. FAT entries carry one time
//! ([`Input::mtime`], from `SOURCE_DATE_EPOCH` or 0, clamped to FAT's 1980–2107); the FAT
//! volume id, the MBR disk signature and the GPT GUIDs are derived from a SHA-256 of the
//! inputs ([`content_id`]); xorriso runs with `SOURCE_DATE_EPOCH` (its volume dates,
//! its UUID and its GPT GUIDs follow from it); `grub-mkimage` and `qemu-img convert` are
//! deterministic for the same input (tested by building twice).
//!
//! **Sized to the content**: see [`fat_size`] — each file rounded up to 64 KiB, plus 1/32
//! and 2 MiB for the FAT's own tables, rounded up to a MiB; 1 MiB before the partition for
//! the partition table and the BIOS boot loader, and 1 MiB after it on GPT disks for the
//! backup table. [`Input::size`] asks for a larger image (the partition grows to fill it).
//!
//! This crate writes into a path it is given; callers make that atomic (a temporary file
//! renamed into place).

mod error;
mod fat;
mod grub;
mod iso;
mod part;
mod tools;

use std::path::Path;

pub use error::DiskError;
pub use tools::{Tool, TOOLS};

const MIB: u64 = 1 << 20;

/// A disk image format (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    RawBios,
    RawEfi,
    Qcow2Bios,
    Qcow2Efi,
    IsoBios,
    IsoEfi,
}

/// How the image's firmware boots it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// PC BIOS (qemu's default SeaBIOS).
    Bios,
    /// UEFI (OVMF under qemu).
    Efi,
}

/// What holds the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// A raw disk (partition table, FAT partition).
    Raw,
    /// The raw disk, converted to qcow2.
    Qcow2,
    /// An ISO 9660 image (a CD-ROM, or a disk: hybrid).
    Iso,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::RawBios,
        Format::RawEfi,
        Format::Qcow2Bios,
        Format::Qcow2Efi,
        Format::IsoBios,
        Format::IsoEfi,
    ];

    /// The `--format` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::RawBios => "raw-bios",
            Format::RawEfi => "raw-efi",
            Format::Qcow2Bios => "qcow2-bios",
            Format::Qcow2Efi => "qcow2-efi",
            Format::IsoBios => "iso-bios",
            Format::IsoEfi => "iso-efi",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// LinuxKit's file name for the platform `name`.
    pub fn file_name(self, name: &str) -> String {
        match self {
            Format::RawBios => format!("{name}-bios.img"),
            Format::RawEfi => format!("{name}-efi.img"),
            Format::Qcow2Bios => format!("{name}.qcow2"),
            Format::Qcow2Efi => format!("{name}-efi.qcow2"),
            Format::IsoBios => format!("{name}.iso"),
            Format::IsoEfi => format!("{name}-efi.iso"),
        }
    }

    pub fn firmware(self) -> Firmware {
        match self {
            Format::RawBios | Format::Qcow2Bios | Format::IsoBios => Firmware::Bios,
            Format::RawEfi | Format::Qcow2Efi | Format::IsoEfi => Firmware::Efi,
        }
    }

    pub fn container(self) -> Container {
        match self {
            Format::RawBios | Format::RawEfi => Container::Raw,
            Format::Qcow2Bios | Format::Qcow2Efi => Container::Qcow2,
            Format::IsoBios | Format::IsoEfi => Container::Iso,
        }
    }

    /// The tools this format runs (to check before any work).
    pub fn tools(self) -> Vec<Tool> {
        let mut t = vec![tools::GRUB_MKIMAGE];
        t.push(match self.firmware() {
            Firmware::Bios => tools::GRUB_PC,
            Firmware::Efi => tools::GRUB_EFI,
        });
        match self.container() {
            Container::Raw => {}
            Container::Qcow2 => t.push(tools::QEMU_IMG),
            Container::Iso => t.push(tools::XORRISO),
        }
        t
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What goes on the image.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The kernel command line, exactly as the kernel gets it.
    pub cmdline: &'a str,
    /// Every file's time, in seconds since the epoch (`SOURCE_DATE_EPOCH` or 0).
    pub mtime: u64,
    /// The whole image's size in bytes, when asked for (`--disk-size`); at least what the
    /// content needs. ISO images are always as large as their content.
    pub size: Option<u64>,
    /// Where intermediate files go (a raw image before its qcow2 conversion, GRUB's
    /// images); default: the directory of the output.
    pub temp_dir: Option<&'a Path>,
}

/// Writes `format` of `input` to `out` (created or truncated).
pub fn write(format: Format, input: &Input, out: &Path) -> Result<(), DiskError> {
    for t in format.tools() {
        t.find()?;
    }
    check_cmdline(input.cmdline)?;
    let temp_parent = input
        .temp_dir
        .map(Path::to_path_buf)
        .or_else(|| out.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    let temp = tempfile::Builder::new()
        .prefix(".stackwright-disk.")
        .tempdir_in(&temp_parent)
        .map_err(|e| DiskError::io(&temp_parent, e))?;
    let id = content_id(format.firmware(), input)?;
    match format.container() {
        Container::Raw => raw(format.firmware(), input, &id, temp.path(), out),
        Container::Qcow2 => {
            let raw_path = temp.path().join("disk.raw");
            raw(format.firmware(), input, &id, temp.path(), &raw_path)?;
            tools::run(
                tools::QEMU_IMG,
                std::process::Command::new(tools::QEMU_IMG.find()?)
                    .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
                    .arg(&raw_path)
                    .arg(out),
            )
        }
        Container::Iso => iso::write(format.firmware(), input, &id, temp.path(), out),
    }
}

/// The command line goes into GRUB's configuration word by word, each word single-quoted;
/// GRUB cannot pass a word with a quote or a backslash through unchanged, so such command
/// lines are refused instead of booted altered.
fn check_cmdline(cmdline: &str) -> Result<(), DiskError> {
    if let Some(c) = cmdline
        .chars()
        .find(|c| matches!(c, '\'' | '"' | '\\') || (c.is_control() && !c.is_whitespace()))
    {
        return Err(DiskError::Cmdline(format!(
            "the kernel command line `{cmdline}` has {c:?}, which a disk image's boot loader cannot pass on unchanged"
        )));
    }
    Ok(())
}

/// A hex SHA-256 of the firmware, the kernel, the initrd and the command line: names the
/// marker file and seeds every id on the image.
pub fn content_id(firmware: Firmware, input: &Input) -> Result<String, DiskError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(match firmware {
        Firmware::Bios => b"bios\0",
        Firmware::Efi => b"efi\0\0",
    });
    for p in [input.kernel, input.initrd] {
        let mut f = std::fs::File::open(p).map_err(|e| DiskError::io(p, e))?;
        h.update(b"\0file\0");
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| DiskError::io(p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    h.update(b"\0cmdline\0");
    h.update(input.cmdline.as_bytes());
    Ok(h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>())
}

/// 16 bytes derived from `id` for `what` (a GUID, a volume id).
pub(crate) fn derive(id: &str, what: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update(b"\0")
        .chain_update(what.as_bytes())
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Parses a size like `512M`, `1G`, `1048576` into bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        Some((i, 'T' | 't')) => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}` is not a size (e.g. 512M, 2G)"))
}

/// A file on a FAT or ISO image: its path there and where its bytes come from.
pub(crate) enum Source<'a> {
    File(&'a Path),
    Bytes(Vec<u8>),
}

impl Source<'_> {
    fn len(&self) -> Result<u64, DiskError> {
        match self {
            Source::File(p) => std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| DiskError::io(p, e)),
            Source::Bytes(b) => Ok(b.len() as u64),
        }
    }
}

/// The size of a FAT file system that holds files of these sizes: each rounded up to
/// 64 KiB (the largest cluster these volumes get), plus 1/32 and 2 MiB for the boot
/// sector, the two FATs and the directories, rounded up to a MiB.
pub fn fat_size(file_sizes: impl IntoIterator<Item = u64>) -> u64 {
    let data: u64 = file_sizes
        .into_iter()
        .map(|s| s.div_ceil(64 << 10) * (64 << 10))
        .sum();
    (data + data / 32 + 2 * MIB).div_ceil(MIB) * MIB
}

/// The early GRUB configuration: find the marker, load kernel and initrd, boot.
pub(crate) fn grub_config(id: &str, cmdline: &str) -> String {
    let words: String = cmdline
        .split_whitespace()
        .map(|w| format!(" '{w}'"))
        .collect();
    format!(
        "search --no-floppy --set=root --file /boot/stackwright-{id}\nlinux /boot/kernel{words}\ninitrd /boot/initrd.img\nboot\n"
    )
}

/// The files every image carries besides the boot loader.
pub(crate) fn payload<'a>(input: &'a Input, id: &str) -> Vec<(String, Source<'a>)> {
    vec![
        ("boot/kernel".into(), Source::File(input.kernel)),
        ("boot/initrd.img".into(), Source::File(input.initrd)),
        (
            format!("boot/stackwright-{id}"),
            Source::Bytes(format!("{id}\n").into_bytes()),
        ),
    ]
}

fn raw(
    firmware: Firmware,
    input: &Input,
    id: &str,
    temp: &Path,
    out: &Path,
) -> Result<(), DiskError> {
    let config = grub_config(id, input.cmdline);
    let mut files = payload(input, id);
    let core = match firmware {
        Firmware::Bios => Some(grub::image(grub::Target::Pc, &config, temp)?),
        Firmware::Efi => {
            files.push((
                "EFI/BOOT/BOOTX64.EFI".into(),
                Source::Bytes(grub::image(grub::Target::Efi, &config, temp)?),
            ));
            None
        }
    };
    let sizes = files
        .iter()
        .map(|(_, s)| s.len())
        .collect::<Result<Vec<_>, _>>()?;
    let tail = match firmware {
        Firmware::Bios => 0,
        Firmware::Efi => MIB,
    };
    let needed = MIB + fat_size(sizes) + tail;
    let total = match input.size {
        None => needed,
        Some(asked) if asked < needed => {
            return Err(DiskError::TooSmall { asked, needed });
        }
        Some(asked) => asked.div_ceil(512) * 512,
    };
    let fs_len = (total - MIB - tail) / 512 * 512;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .read(true)
        .truncate(true)
        .open(out)
        .map_err(|e| DiskError::io(out, e))?;
    f.set_len(total).map_err(|e| DiskError::io(out, e))?;
    let fat_type =
        fat::write(&f, MIB, fs_len, id, input.mtime, &files).map_err(|e| DiskError::io(out, e))?;
    match firmware {
        Firmware::Bios => {
            let core = core.expect("made above");
            part::write_mbr(&f, id, MIB, fs_len, fat_type, &core, &grub::boot_img()?)?
        }
        Firmware::Efi => {
            part::write_gpt(&f, id, total, MIB, fs_len).map_err(|e| DiskError::io(out, e))?
        }
    }
    f.sync_all().map_err(|e| DiskError::io(out, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_linuxkit() {
        let names: Vec<String> = Format::ALL.iter().map(|f| f.file_name("p")).collect();
        assert_eq!(
            names,
            [
                "p-bios.img",
                "p-efi.img",
                "p.qcow2",
                "p-efi.qcow2",
                "p.iso",
                "p-efi.iso"
            ]
        );
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("vhd"), None);
    }

    #[test]
    fn the_fat_is_sized_to_its_files() {
        assert_eq!(fat_size([]), 2 * MIB);
        // 7 MiB + 1 byte → 7 MiB + 64 KiB of clusters, 1/32 of it, 2 MiB of tables.
        assert_eq!(fat_size([7 * MIB + 1]), 10 * MIB);
        assert_eq!(fat_size([100 * MIB, 30 * MIB]), 137 * MIB);
    }

    #[test]
    fn the_command_line_is_quoted_word_by_word() {
        let c = grub_config("ab", "console=ttyS0  quiet");
        assert!(
            c.contains("linux /boot/kernel 'console=ttyS0' 'quiet'\n"),
            "{c}"
        );
        assert!(c.contains("--file /boot/stackwright-ab\n"));
        assert!(check_cmdline("a=b c").is_ok());
        assert!(check_cmdline("a=\"b c\"").is_err());
        assert!(check_cmdline("a='b'").is_err());
    }
}
