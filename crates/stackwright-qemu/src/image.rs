//! What a disk image is, read from its bytes (never from its name):
//!
//! - **ISO 9660** (`CD001` at 32 KiB + 1): the El Torito catalog's platform ids say BIOS
//!   (0) or EFI (0xEF); attached as a CD-ROM;
//! - **qcow2** (`QFI\xfb`): the guest's first sectors are read through the image's own
//!   L1/L2 tables (no conversion, no tool), then judged like a raw disk;
//! - **raw**: a GPT (`EFI PART` at byte 512) whose entries hold an EFI system partition
//!   (type C12A7328-F81F-11D2-BA4B-00A0C93EC93B) boots with EFI; a GPT without one (a BIOS
//!   boot partition) or an MBR (boot signature `55 AA`; a partition of type 0xEF makes it
//!   EFI) boots with BIOS.
//!
//! A qcow2 whose first sectors cannot be read this way (compressed or encrypted clusters,
//! a backing file, an external data file) has no known firmware: `run` then asks for
//! `--firmware bios|efi`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{Container, Disk, Firmware, QemuError};

/// The EFI system partition's type GUID as a GPT stores it.
const ESP: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
];

/// Reads `len` bytes at `off` of what the guest sees; `None` when that cannot be known.
trait Guest {
    fn read(&self, off: u64, len: usize) -> Option<Vec<u8>>;
}

struct Raw<'a>(&'a File);

impl Guest for Raw<'_> {
    fn read(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        read_at(self.0, off, len)
    }
}

/// Up to `len` bytes at `off` (short at the end of the file).
fn read_at(f: &File, off: u64, len: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut b[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    b.truncate(got);
    Some(b)
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A qcow2 image (versions 2 and 3), read through its L1 and L2 tables.
struct Qcow2<'a> {
    file: &'a File,
    cluster_bits: u32,
    l1_offset: u64,
    l1_size: u64,
    /// Bytes per L2 entry: 8, or 16 with extended L2 entries.
    l2_entry: u64,
    /// Unallocated clusters read as zeros (no backing file).
    zeros_when_unallocated: bool,
}

/// Host offset bits of L1 and L2 entries (9–55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;

impl<'a> Qcow2<'a> {
    /// `None` for what this reader does not follow: encryption, an external data file,
    /// unknown incompatible features, odd cluster sizes.
    fn open(file: &'a File) -> Option<Qcow2<'a>> {
        let h = read_at(file, 0, 104)?;
        if h.len() < 72 || h[..4] != *b"QFI\xfb" {
            return None;
        }
        let version = be32(&h, 4);
        let cluster_bits = be32(&h, 20);
        if !(9..=21).contains(&cluster_bits) || be32(&h, 32) != 0 {
            return None;
        }
        let mut l2_entry = 8;
        if version >= 3 {
            if h.len() < 80 {
                return None;
            }
            let incompatible = be64(&h, 72);
            // Bit 0 dirty and bit 1 corrupt leave the tables readable; bit 3 (the
            // compression type) only matters for compressed clusters, refused below; bit
            // 4: extended L2 entries (16 bytes). Bit 2 (external data file) and anything
            // newer: not followed.
            if incompatible & !0b1_1011 != 0 {
                return None;
            }
            if incompatible & 0b1_0000 != 0 {
                l2_entry = 16;
            }
        } else if version != 2 {
            return None;
        }
        Some(Qcow2 {
            file,
            cluster_bits,
            l1_offset: be64(&h, 40),
            l1_size: u64::from(be32(&h, 36)),
            l2_entry,
            zeros_when_unallocated: be64(&h, 8) == 0,
        })
    }

    /// The host offset of the guest cluster holding `guest`: `Some(None)` when it reads as
    /// zeros, `None` when it cannot be read here.
    fn cluster(&self, guest: u64) -> Option<Option<u64>> {
        let size = 1u64 << self.cluster_bits;
        let per_l2 = size / self.l2_entry;
        let l1_index = guest / size / per_l2;
        let l2_index = (guest / size) % per_l2;
        let unallocated = || self.zeros_when_unallocated.then_some(None);
        if l1_index >= self.l1_size {
            return unallocated();
        }
        let l1 = be64(&read_at(self.file, self.l1_offset + 8 * l1_index, 8)?, 0);
        let l2_table = l1 & OFFSET_MASK;
        if l2_table == 0 {
            return unallocated();
        }
        let l2 = be64(
            &read_at(self.file, l2_table + self.l2_entry * l2_index, 8)?,
            0,
        );
        if l2 & (1 << 62) != 0 {
            return None; // compressed
        }
        if l2 & 1 != 0 && self.l2_entry == 8 {
            return Some(None); // "reads as zeros" (version 3)
        }
        match l2 & OFFSET_MASK {
            0 => unallocated(),
            host => Some(Some(host)),
        }
    }
}

impl Guest for Qcow2<'_> {
    fn read(&self, off: u64, len: usize) -> Option<Vec<u8>> {
        let size = 1u64 << self.cluster_bits;
        let mut out = Vec::with_capacity(len);
        let mut at = off;
        while out.len() < len {
            let within = at % size;
            let n = ((size - within) as usize).min(len - out.len());
            match self.cluster(at)? {
                None => out.resize(out.len() + n, 0),
                Some(host) => {
                    let b = read_at(self.file, host + within, n)?;
                    if b.len() != n {
                        return None;
                    }
                    out.extend_from_slice(&b);
                }
            }
            at += n as u64;
        }
        Some(out)
    }
}

/// The firmware a partitioned disk boots with: `Ok(None)` when it cannot be read,
/// `Err` when it has no partition table.
fn partitioned(g: &dyn Guest) -> Result<Option<Firmware>, ()> {
    let Some(mbr) = g.read(0, 1024) else {
        return Ok(None);
    };
    if mbr.len() < 1024 {
        return Err(());
    }
    if &mbr[512..520] == b"EFI PART" {
        let at = le64(&mbr, 512 + 72);
        let count = u64::from(le32(&mbr, 512 + 80)).min(1024);
        let size = u64::from(le32(&mbr, 512 + 84));
        if !(128..=4096).contains(&size) {
            return Err(());
        }
        let Some(entries) = g.read(at * 512, (count * size) as usize) else {
            return Ok(None);
        };
        let esp = entries
            .chunks(size as usize)
            .any(|e| e.len() >= 16 && e[..16] == ESP);
        return Ok(Some(if esp { Firmware::Efi } else { Firmware::Bios }));
    }
    if mbr[510..512] == [0x55, 0xaa] {
        let esp = (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xef);
        return Ok(Some(if esp { Firmware::Efi } else { Firmware::Bios }));
    }
    Err(())
}

/// The firmware of an ISO 9660 image's El Torito boot: volume descriptors from sector 16;
/// the boot record (type 0, `EL TORITO SPECIFICATION`) names the catalog's sector (byte
/// 71); EFI when the validation entry or a section header (0x90/0x91) says 0xEF.
fn el_torito(f: &File) -> Option<Firmware> {
    for sector in 16..32u64 {
        let d = read_at(f, sector * 2048, 2048)?;
        if d.len() < 75 || d[0] == 255 {
            return None;
        }
        if d[0] == 0 && d[7..30].starts_with(b"EL TORITO SPECIFICATION") {
            let cat = u64::from(le32(&d, 71));
            let c = read_at(f, cat * 2048, 2048)?;
            let efi = c.get(1) == Some(&0xef)
                || c.chunks(32)
                    .any(|e| matches!(e.first(), Some(0x90 | 0x91)) && e.get(1) == Some(&0xef));
            return Some(if efi { Firmware::Efi } else { Firmware::Bios });
        }
    }
    None
}

/// Reads what `path` is; see the module's documentation.
pub fn find_disk(path: &Path) -> Result<Disk, QemuError> {
    let not = |reason: &str| QemuError::NotAnImage {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let f = File::open(path).map_err(|e| QemuError::Io {
        what: format!("opening {}", path.display()),
        source: e,
    })?;
    let head = read_at(&f, 0, 4).unwrap_or_default();
    let (container, firmware) = if head == b"QFI\xfb" {
        let fw = match Qcow2::open(&f) {
            None => None,
            Some(q) => partitioned(&q).map_err(|()| {
                not("a qcow2 image whose disk has no partition table (neither GPT nor MBR)")
            })?,
        };
        (Container::Qcow2, fw)
    } else if read_at(&f, 0x8001, 5).unwrap_or_default() == b"CD001" {
        let fw = el_torito(&f)
            .ok_or_else(|| not("an ISO 9660 image without an El Torito boot record"))?;
        (Container::Iso, Some(fw))
    } else {
        let fw = partitioned(&Raw(&f)).map_err(|()| {
            not("neither a qcow2, an ISO 9660 nor a raw disk with a partition table; write one with `stackwright assemble … --format raw-bios` (or raw-efi, qcow2-bios, qcow2-efi, iso-bios, iso-efi)")
        })?;
        (Container::Raw, fw)
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(Disk {
        path: path.to_path_buf(),
        container,
        firmware,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw disk of 40 ISO sectors with `at` written into it.
    fn image(at: &[(u64, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; 40 * 2048];
        for (off, bytes) in at {
            b[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
        }
        b
    }

    fn gpt(entry_type: [u8; 16]) -> Vec<u8> {
        let mut h = vec![0u8; 92];
        h[..8].copy_from_slice(b"EFI PART");
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        let mut disk = image(&[(510, &[0x55, 0xaa]), (512, &h)]);
        // Third entry: an empty first one must not hide it.
        disk[1024 + 256..1024 + 256 + 16].copy_from_slice(&entry_type);
        disk
    }

    /// `raw` as a qcow2 (version 3, 512-byte clusters so that the first KiB spans two
    /// L2 entries and the GPT's entries two more): the clusters stored in reverse
    /// order, so only a reader that follows the tables finds the bytes; all-zero
    /// clusters left unallocated.
    fn qcow2(raw: &[u8]) -> Vec<u8> {
        let cs = 512usize;
        let clusters = raw.len().div_ceil(cs);
        let per_l2 = cs / 8;
        let l1_size = clusters.div_ceil(per_l2);
        // Layout: header (cluster 0), L1 (cluster 1), L2 tables, then data.
        let l2_at = 2 * cs;
        let data_at = l2_at + l1_size * cs;
        let mut out = vec![0u8; data_at];
        out[..4].copy_from_slice(b"QFI\xfb");
        out[4..8].copy_from_slice(&3u32.to_be_bytes());
        out[20..24].copy_from_slice(&9u32.to_be_bytes());
        out[24..32].copy_from_slice(&(raw.len() as u64).to_be_bytes());
        out[36..40].copy_from_slice(&(l1_size as u32).to_be_bytes());
        out[40..48].copy_from_slice(&(cs as u64).to_be_bytes());
        for i in 0..l1_size {
            let e = (l2_at + i * cs) as u64 | 1 << 63;
            out[cs + 8 * i..cs + 8 * i + 8].copy_from_slice(&e.to_be_bytes());
        }
        let used: Vec<usize> = (0..clusters)
            .rev()
            .filter(|c| raw[c * cs..(c + 1) * cs].iter().any(|b| *b != 0))
            .collect();
        for (n, c) in used.iter().enumerate() {
            let host = (data_at + n * cs) as u64;
            let at = l2_at + c * 8;
            out[at..at + 8].copy_from_slice(&(host | 1 << 63).to_be_bytes());
        }
        for c in &used {
            out.extend_from_slice(&raw[c * cs..(c + 1) * cs]);
        }
        out
    }

    fn kind(name: &str, bytes: &[u8]) -> (Container, Option<Firmware>) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let g = find_disk(&p).unwrap();
        (g.container, g.firmware)
    }

    #[test]
    fn raw_disks_by_their_partition_table() {
        let mbr = image(&[(510, &[0x55, 0xaa]), (446 + 4, &[0x0c])]);
        let mbr_esp = image(&[(510, &[0x55, 0xaa]), (446 + 16 + 4, &[0xef])]);
        let bios_boot = *b"Hah!IdontNeedEFI";
        let raw = (Container::Raw, Some(Firmware::Bios));
        assert_eq!(kind("p-efi.img", &mbr), raw);
        assert_eq!(
            kind("p.img", &mbr_esp),
            (Container::Raw, Some(Firmware::Efi))
        );
        assert_eq!(
            kind("p-bios.img", &gpt(ESP)),
            (Container::Raw, Some(Firmware::Efi))
        );
        assert_eq!(kind("p-efi.img", &gpt(bios_boot)), raw);
    }

    #[test]
    fn qcow2_by_the_disk_inside_not_the_name() {
        let efi = qcow2(&gpt(ESP));
        let bios = qcow2(&image(&[(510, &[0x55, 0xaa])]));
        let q = |fw| (Container::Qcow2, Some(fw));
        assert_eq!(kind("p.qcow2", &efi), q(Firmware::Efi));
        assert_eq!(kind("p-efi.qcow2", &bios), q(Firmware::Bios));
        // A compressed first cluster: not read here, so no firmware (run asks for one).
        let mut compressed = efi.clone();
        let l2 = 2 * 512;
        compressed[l2] |= 0x40;
        assert_eq!(kind("p.qcow2", &compressed), (Container::Qcow2, None));
        // An empty disk has no partition table.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("empty.qcow2");
        std::fs::write(&p, qcow2(&image(&[]))).unwrap();
        let e = find_disk(&p).unwrap_err().to_string();
        assert!(e.contains("no partition table"), "{e}");
    }

    #[test]
    fn iso_by_its_el_torito_catalog() {
        let mut br = vec![0u8; 75];
        br[1..6].copy_from_slice(b"CD001");
        br[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
        br[71..75].copy_from_slice(&20u32.to_le_bytes());
        let iso = |platform: u8| {
            image(&[
                (16 * 2048, &[1]),
                (16 * 2048 + 1, b"CD001"),
                (17 * 2048, &br),
                (18 * 2048, &[255]),
                (20 * 2048, &[1, platform]),
            ])
        };
        assert_eq!(
            kind("p.iso", &iso(0xef)),
            (Container::Iso, Some(Firmware::Efi))
        );
        assert_eq!(
            kind("p-efi.iso", &iso(0)),
            (Container::Iso, Some(Firmware::Bios))
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_formats() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("junk");
        std::fs::write(&p, image(&[])).unwrap();
        let e = find_disk(&p).unwrap_err().to_string();
        assert!(e.contains("--format raw-bios"), "{e}");
    }
}
