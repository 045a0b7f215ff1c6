//! The FAT file system of the raw images' partition and of the EFI El Torito image,
//! written with the `fatfs` crate into a window of the image file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

pub(crate) use fatfs::FatType;

use crate::Source;

/// A window `[start, start + len)` of a file, as a stream.
struct Window<'a> {
    f: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        let n = self.f.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the FAT partition",
            ));
        }
        let n = self.f.write_at(&buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match pos {
            Some(p) if p <= self.len => {
                self.pos = p;
                Ok(p)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the FAT partition",
            )),
        }
    }
}

/// One time for every entry: `mtime` as a DOS date, clamped to FAT's range.
#[derive(Debug)]
struct Fixed(fatfs::DateTime);

impl fatfs::TimeProvider for Fixed {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn dos_time(mtime: u64) -> fatfs::DateTime {
    // 1980-01-01 and 2107-12-31 23:59:58, FAT's first and last times.
    let secs = mtime.clamp(315_532_800, 4_354_819_198) as i64;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    fatfs::DateTime {
        date: fatfs::Date {
            year: y as u16,
            month: m as u16,
            day: d as u16,
        },
        time: fatfs::Time {
            hour: (s / 3600) as u16,
            min: (s / 60 % 60) as u16,
            sec: (s % 60 / 2 * 2) as u16,
            millis: 0,
        },
    }
}

/// The time provider for `mtime`. fatfs wants a `'static` one: the epoch's is a static,
/// any other is leaked (a few bytes per image written with `SOURCE_DATE_EPOCH` set).
fn provider(mtime: u64) -> &'static Fixed {
    static EPOCH: std::sync::OnceLock<Fixed> = std::sync::OnceLock::new();
    let t = dos_time(mtime);
    let e = EPOCH.get_or_init(|| Fixed(dos_time(0)));
    if e.0 == t {
        e
    } else {
        Box::leak(Box::new(Fixed(t)))
    }
}

/// Formats `[start, start + len)` of `f` as FAT (the type fatfs picks for the size; volume
/// id from the content, label `STACKWRIGHT`) and writes `files`, directories created as
/// their paths need. Returns the FAT type.
pub(crate) fn write(
    f: &File,
    start: u64,
    len: u64,
    id: &str,
    mtime: u64,
    files: &[(String, Source)],
) -> io::Result<FatType> {
    let window = || Window {
        f,
        start,
        len,
        pos: 0,
    };
    let vid = crate::derive(id, "fat volume id");
    fatfs::format_volume(
        window(),
        fatfs::FormatVolumeOptions::new()
            .volume_id(u32::from_le_bytes([vid[0], vid[1], vid[2], vid[3]]))
            .volume_label(*b"STACKWRIGHT"),
    )?;
    let fs = fatfs::FileSystem::new(
        window(),
        fatfs::FsOptions::new()
            .update_accessed_date(false)
            .time_provider(provider(mtime)),
    )?;
    let fat_type = fs.fat_type();
    {
        let root = fs.root_dir();
        let mut made: Vec<String> = Vec::new();
        for (path, source) in files {
            let mut dir = String::new();
            let parts: Vec<&str> = path.split('/').collect();
            for p in &parts[..parts.len() - 1] {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(p);
                if !made.contains(&dir) {
                    root.create_dir(&dir)?;
                    made.push(dir.clone());
                }
            }
            let mut file = root.create_file(path)?;
            file.truncate()?;
            match source {
                Source::Bytes(b) => file.write_all(b)?,
                Source::File(p) => {
                    let mut src = File::open(p)?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = src.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        file.write_all(&buf[..n])?;
                    }
                }
            }
            file.flush()?;
        }
    }
    fs.unmount()?;
    Ok(fat_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times_are_clamped_and_civil() {
        let t = dos_time(0);
        assert_eq!((t.date.year, t.date.month, t.date.day), (1980, 1, 1));
        // 2024-02-29 12:34:57 UTC → seconds rounded down to even.
        let t = dos_time(1_709_210_097);
        assert_eq!((t.date.year, t.date.month, t.date.day), (2024, 2, 29));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (12, 34, 56));
    }
}
