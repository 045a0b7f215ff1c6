//! Large blob writes and reads that go around the page cache (`O_DIRECT`), and back to
//! ordinary I/O wherever the kernel refuses it — the same bytes either way.
//!
//! Why: a blob written into the cache (a download, a built layer) is new data. On a
//! virtual machine whose free memory goes back to its host (virtio-balloon free page
//! reporting, as on the CI machines), every new page-cache page is a host fault on first
//! touch: measured on such a machine, 100 MiB written with `write(2)` took 300–380 ms,
//! with `O_DIRECT` 50–70 ms; 100 MiB not in the page cache read ordinarily 157 ms, with
//! `O_DIRECT` 78 ms. Direct transfers only move the bytes between one reused, aligned
//! buffer and the device.
//!
//! Linux's rules for `O_DIRECT`: the buffer's address, the file offset and each
//! transfer's length must be multiples of the device's logical block size; [`ALIGN`]
//! (4096) is a multiple of every common one. So a [`DirectWriter`] sends whole
//! [`BLOCK`]s direct while its file offset is aligned, and ends with the last partial
//! block written ordinarily after clearing the flag (`fcntl(F_SETFL)`); a
//! [`DirectReader`] reads whole blocks from offset 0. Where the flag cannot be set
//! (tmpfs, some FUSE filesystems), where a transfer is refused (`EINVAL`), or where a
//! transfer comes back short of a block, the file is switched to ordinary I/O for good
//! and the bytes go on from where they were. Mixing both on one file is coherent: Linux
//! writes back and drops cached pages around a direct transfer.
//!
//! No `unsafe`: the aligned buffer is an ordinary `Vec` slightly larger than a block,
//! used from its first aligned byte (a `Vec`'s heap data never moves while it lives).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::OFlags;

/// The alignment every direct transfer keeps (address, offset, length).
pub(crate) const ALIGN: usize = 4096;

/// The size of one transfer, and of the buffer.
pub(crate) const BLOCK: usize = 1 << 20;

/// Sets or clears `O_DIRECT` on an open file.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file.as_fd())?;
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    rustix::fs::fcntl_setfl(file.as_fd(), flags)?;
    Ok(())
}

/// One [`BLOCK`] of memory starting at an [`ALIGN`]ed address, and how much of it holds
/// bytes.
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new() -> AlignedBuf {
        let raw = vec![0u8; BLOCK + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        AlignedBuf { raw, start, len: 0 }
    }

    fn filled(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + BLOCK]
    }

    /// Appends as much of `bytes` as fits; returns how much.
    fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BLOCK - self.len);
        let at = self.start + self.len;
        self.raw[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    fn consume(&mut self, n: usize) {
        let (start, len) = (self.start, self.len);
        self.raw.copy_within(start + n..start + len, start);
        self.len -= n;
    }
}

/// Writes a new blob's bytes from the file's current position (`offset` bytes into it)
/// on, direct while it can (see the module doc). Call [`DirectWriter::finish`]: bytes
/// still in the buffer when it is dropped are lost.
pub(crate) struct DirectWriter {
    file: File,
    direct: bool,
    buf: AlignedBuf,
}

impl DirectWriter {
    /// Writes to `file`, positioned at `offset` (direct only if that is aligned).
    pub(crate) fn new(file: File, offset: u64) -> DirectWriter {
        let direct = offset % ALIGN as u64 == 0 && set_direct(&file, true).is_ok();
        DirectWriter {
            file,
            direct,
            buf: AlignedBuf::new(),
        }
    }

    /// Whether the buffer holds a whole block, to send with [`DirectWriter::send_block`]
    /// (for callers that move the writer to a blocking thread per block).
    pub(crate) fn block_full(&self) -> bool {
        self.buf.len == BLOCK
    }

    /// Takes as much of `bytes` into the buffer as fits, without writing; returns how
    /// much.
    pub(crate) fn take(&mut self, bytes: &[u8]) -> usize {
        self.buf.push(bytes)
    }

    /// Writes the full buffer out.
    pub(crate) fn send_block(&mut self) -> io::Result<()> {
        self.send(self.buf.len)
    }

    /// Writes the first `n` bytes of the buffer (`n` a multiple of [`ALIGN`] while
    /// direct) and drops them from it.
    fn send(&mut self, n: usize) -> io::Result<()> {
        let mut done = 0;
        while done < n {
            let data = &self.buf.filled()[done..n];
            match self.file.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    done += k;
                    if self.direct && k % ALIGN != 0 {
                        // Short of a block: the offset is no longer aligned.
                        self.buffered()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.buffered()?;
                }
                Err(e) => return Err(e),
            }
        }
        self.buf.consume(n);
        Ok(())
    }

    fn buffered(&mut self) -> io::Result<()> {
        self.direct = false;
        set_direct(&self.file, false)
    }

    /// Writes what is left (the aligned part direct, the tail ordinarily) and returns the
    /// file, back to ordinary I/O.
    pub(crate) fn finish(mut self) -> io::Result<File> {
        if self.direct {
            let aligned = self.buf.len / ALIGN * ALIGN;
            self.send(aligned)?;
            if self.direct {
                self.buffered()?;
            }
        }
        let rest = self.buf.len;
        self.send(rest)?;
        Ok(self.file)
    }
}

impl Write for DirectWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.take(bytes);
        if self.block_full() {
            self.send_block()?;
        }
        Ok(n)
    }

    /// Only whole blocks are ever written before [`DirectWriter::finish`]; a flush
    /// does nothing.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a file from its start, a [`BLOCK`] at a time, direct while it can (see the
/// module doc).
pub struct DirectReader {
    file: File,
    direct: bool,
    buf: AlignedBuf,
    /// How much of `buf` was handed out.
    pos: usize,
}

impl DirectReader {
    pub fn open(path: &Path) -> io::Result<DirectReader> {
        let file = File::open(path)?;
        let direct = set_direct(&file, true).is_ok();
        Ok(DirectReader {
            file,
            direct,
            buf: AlignedBuf::new(),
            pos: 0,
        })
    }

    /// Refills the buffer from the file; `Ok(0)` at the end.
    fn refill(&mut self) -> io::Result<usize> {
        loop {
            let got = self.file.read(self.buf.block_mut());
            match got {
                Ok(k) => {
                    if self.direct && k % ALIGN != 0 {
                        // The end of the file (or a short read): go on ordinarily.
                        self.direct = false;
                        set_direct(&self.file, false)?;
                    }
                    self.buf.len = k;
                    self.pos = 0;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if self.direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    self.direct = false;
                    set_direct(&self.file, false)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len && self.refill()? == 0 {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len - self.pos);
        out[..n].copy_from_slice(&self.buf.filled()[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4099) as u8).collect()
    }

    /// Whatever the sizes written in and the length, the file holds exactly the bytes,
    /// and the reader gives them back; also from an unaligned start (a resumed file).
    #[test]
    fn writes_and_reads_back_exactly_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for (len, piece, prefix) in [
            (0, 1, 0),
            (1, 1, 0),
            (ALIGN, 100, 0),
            (BLOCK, 65536, 0),
            (3 * BLOCK + 12345, 70001, 0),
            (2 * BLOCK + 1, BLOCK + 3, 777),
        ] {
            let path = dir.path().join(format!("f-{len}-{piece}-{prefix}"));
            let data = bytes(len);
            let mut file = File::create(&path).unwrap();
            file.write_all(&data[..prefix.min(len)]).unwrap();
            let mut w = DirectWriter::new(file, prefix as u64);
            for chunk in data[prefix.min(len)..].chunks(piece) {
                w.write_all(chunk).unwrap();
            }
            drop(w.finish().unwrap());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "{len} {piece} {prefix}"
            );
            let mut back = Vec::new();
            DirectReader::open(&path)
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "read back {len}");
        }
    }
}
