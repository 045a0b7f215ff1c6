//! Partition tables, written by hand: an MBR with one bootable FAT partition and GRUB's
//! boot code, or a protective MBR and a GPT (primary and backup) with one EFI system
//! partition. Both are small fixed layouts; writing them here keeps every byte (disk
//! signature, GUIDs) derived from the content, where partitioning crates and tools pick
//! random ones.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::fat::FatType;

const SECTOR: u64 = 512;

/// A CHS triple for an MBR entry (255 heads, 63 sectors; past cylinder 1023 the
/// conventional maximum, and LBA is what everyone reads).
fn chs(lba: u64) -> [u8; 3] {
    let (c, h, s) = if lba >= 1024 * 255 * 63 {
        (1023, 254, 63)
    } else {
        (lba / (255 * 63), (lba / 63) % 255, lba % 63 + 1)
    };
    [
        h as u8,
        (s as u8) | (((c >> 2) & 0xc0) as u8),
        (c & 0xff) as u8,
    ]
}

fn mbr_entry(boot: bool, kind: u8, start: u64, sectors: u64) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if boot { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&chs(start));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs(start + sectors - 1));
    e[8..12].copy_from_slice(&(start.min(u32::MAX as u64) as u32).to_le_bytes());
    e[12..16].copy_from_slice(&(sectors.min(u32::MAX as u64) as u32).to_le_bytes());
    e
}

/// MBR (GRUB's `boot.img` code, a disk signature from the content, one bootable FAT
/// partition) and GRUB's `core.img` in the sectors before the partition.
pub(crate) fn write_mbr(
    f: &File,
    id: &str,
    start: u64,
    len: u64,
    fat: FatType,
    core: &[u8],
    boot_img: &[u8],
) -> Result<(), crate::DiskError> {
    if core.len() as u64 > start - SECTOR || boot_img.len() < 440 {
        return Err(crate::DiskError::LoaderTooLarge(core.len()));
    }
    let io = |e: io::Error| crate::DiskError::Io {
        path: "the disk image".into(),
        source: e,
    };
    let mut mbr = [0u8; 512];
    mbr[..440].copy_from_slice(&boot_img[..440]);
    mbr[440..444].copy_from_slice(&crate::derive(id, "mbr disk signature")[..4]);
    let kind = match fat {
        FatType::Fat12 => 0x01,
        FatType::Fat16 => 0x0e,
        FatType::Fat32 => 0x0c,
    };
    mbr[446..462].copy_from_slice(&mbr_entry(true, kind, start / SECTOR, len / SECTOR));
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    f.write_all_at(&mbr, 0).map_err(io)?;
    f.write_all_at(core, SECTOR).map_err(io)?;
    Ok(())
}

/// The EFI system partition's type GUID, C12A7328-F81F-11D2-BA4B-00A0C93EC93B, as stored.
const ESP: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
];

/// A GUID from the content, with the version (4) and variant bits a random one has.
pub(crate) fn guid(id: &str, what: &str) -> [u8; 16] {
    let mut g = crate::derive(id, what);
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Sectors the 128 entries take.
const ENTRY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;

fn gpt_header(
    disk_guid: &[u8; 16],
    me: u64,
    other: u64,
    entries_at: u64,
    last_usable: u64,
    entries_crc: u32,
) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&me.to_le_bytes());
    h[32..40].copy_from_slice(&other.to_le_bytes());
    h[40..48].copy_from_slice(&(2 + ENTRY_SECTORS).to_le_bytes());
    h[48..56].copy_from_slice(&last_usable.to_le_bytes());
    h[56..72].copy_from_slice(disk_guid);
    h[72..80].copy_from_slice(&entries_at.to_le_bytes());
    h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
    h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Protective MBR, primary GPT (LBA 1, entries from LBA 2), the ESP, backup entries and
/// header at the end of the disk.
pub(crate) fn write_gpt(f: &File, id: &str, total: u64, start: u64, len: u64) -> io::Result<()> {
    let sectors = total / SECTOR;
    let last = sectors - 1;
    let mut mbr = [0u8; 512];
    let mut pe = mbr_entry(false, 0xee, 1, (sectors - 1).min(u32::MAX as u64));
    pe[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    pe[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    mbr[446..462].copy_from_slice(&pe);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    f.write_all_at(&mbr, 0)?;

    let mut entries = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    entries[0..16].copy_from_slice(&ESP);
    entries[16..32].copy_from_slice(&guid(id, "esp partition guid"));
    entries[32..40].copy_from_slice(&(start / SECTOR).to_le_bytes());
    entries[40..48].copy_from_slice(&((start + len) / SECTOR - 1).to_le_bytes());
    for (i, u) in "EFI System Partition".encode_utf16().enumerate() {
        entries[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let crc = crc32fast::hash(&entries);
    let disk = guid(id, "gpt disk guid");
    let last_usable = last - 1 - ENTRY_SECTORS;
    let backup_entries = last - ENTRY_SECTORS;
    f.write_all_at(&gpt_header(&disk, 1, last, 2, last_usable, crc), SECTOR)?;
    f.write_all_at(&entries, 2 * SECTOR)?;
    f.write_all_at(&entries, backup_entries * SECTOR)?;
    f.write_all_at(
        &gpt_header(&disk, last, 1, backup_entries, last_usable, crc),
        last * SECTOR,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_of_small_and_large_addresses() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(u64::from(u32::MAX)), [254, 0xff, 0xff]);
    }
}
