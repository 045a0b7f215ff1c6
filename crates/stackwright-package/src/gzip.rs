//! The gzip stream of a built layer: reproducible, and cheap on bytes deflate cannot
//! shrink.
//!
//! The input is cut into fixed [`CHUNK`]s (whatever sizes the caller writes in, so the
//! output depends on the bytes alone). A chunk whose byte histogram is flat
//! ([`incompressible`]: random data, or data compressed already — a `.gz` inside a
//! tarball, an embedded archive) goes out as deflate *stored* blocks: a copy, at memory
//! speed, where level 6 spends ~15 ns a byte to gain nothing (it emits stored blocks for
//! such data too, after searching for matches). Every other chunk goes through one raw
//! deflate stream at [`LEVEL`] that lives across consecutive compressed chunks (its
//! window spans them); before stored blocks it is ended with a sync flush (which leaves
//! the stream on a byte boundary), and after them a fresh stream starts. One deflate
//! stream in all, in one gzip member: every gzip reader takes it.
//!
//! Header: no file name, mtime 0, no extra flags, OS byte 255 (unknown).

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

/// The unit of the stored-or-compressed decision.
pub(crate) const CHUNK: usize = 64 << 10;

/// The deflate level of compressible chunks (zlib's default): on Go binaries like
/// containerd 33.8 % of the input at ~80 MB/s a core here, against 36.9 % at ~150 MB/s
/// for level 2 and 44.5 % at ~280 MB/s for level 1 (zlib-rs).
pub(crate) const LEVEL: u32 = 6;

/// A gzip writer over `inner`; [`Gzip::finish`] writes the end and returns `inner`.
pub(crate) struct Gzip<W: Write> {
    inner: W,
    deflate: Compress,
    /// A compressed run is open: `deflate` holds state to end before stored blocks.
    in_run: bool,
    chunk: Vec<u8>,
    out: Vec<u8>,
    crc: flate2::Crc,
}

/// Whether deflate would not shrink `chunk`: its byte distribution is within 1/64 of
/// flat, by the collision sum `256·Σcᵢ² ≤ n²·(1 + 1/64)` (integers only, so the
/// decision is the same on every machine). Random bytes give `1 + 256/n` (1.004 for a
/// full chunk); x86-64 and arm64 code, text and tables are far above (containerd's
/// 735 chunks all compress). Order-0 only: a flat chunk that repeats an earlier one is
/// stored although deflate could refer back to it — larger, never wrong.
pub(crate) fn incompressible(chunk: &[u8]) -> bool {
    // Four histograms, so consecutive equal bytes do not wait on one counter.
    let mut h = [[0u32; 256]; 4];
    let mut words = chunk.chunks_exact(4);
    for w in &mut words {
        h[0][usize::from(w[0])] += 1;
        h[1][usize::from(w[1])] += 1;
        h[2][usize::from(w[2])] += 1;
        h[3][usize::from(w[3])] += 1;
    }
    for &b in words.remainder() {
        h[0][usize::from(b)] += 1;
    }
    let collisions: u64 = (0..256)
        .map(|i| {
            let c = u64::from(h[0][i] + h[1][i] + h[2][i] + h[3][i]);
            c * c
        })
        .sum();
    let n = chunk.len() as u64;
    256 * collisions <= n * n + n * n / 64
}

impl<W: Write> Gzip<W> {
    pub(crate) fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(Self {
            inner,
            deflate: Compress::new(Compression::new(LEVEL), false),
            in_run: false,
            chunk: Vec::with_capacity(CHUNK),
            out: vec![0; 128 << 10],
            crc: flate2::Crc::new(),
        })
    }

    /// Feeds `input` to the open deflate stream with `flush`, writing all it makes.
    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            let (read, written) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self
                .deflate
                .compress(input, &mut self.out, flush)
                .map_err(io::Error::other)?;
            let used = (self.deflate.total_in() - read) as usize;
            let made = (self.deflate.total_out() - written) as usize;
            self.inner.write_all(&self.out[..made])?;
            input = &input[used..];
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                // Output room left over: deflate has given all it had.
                _ => input.is_empty() && made < self.out.len(),
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Writes the full (or, at the end, last) chunk.
    fn emit(&mut self) -> io::Result<()> {
        let chunk = std::mem::take(&mut self.chunk);
        self.crc.update(&chunk);
        if incompressible(&chunk) {
            if self.in_run {
                self.deflate(&[], FlushCompress::Sync)?;
                self.in_run = false;
            }
            for block in chunk.chunks(usize::from(u16::MAX)) {
                let len = block.len() as u16;
                // BFINAL 0, BTYPE 00 (stored); the stream is on a byte boundary here.
                self.inner.write_all(&[0])?;
                self.inner.write_all(&len.to_le_bytes())?;
                self.inner.write_all(&(!len).to_le_bytes())?;
                self.inner.write_all(block)?;
            }
        } else {
            if !self.in_run {
                self.deflate.reset();
                self.in_run = true;
            }
            self.deflate(&chunk, FlushCompress::None)?;
        }
        self.chunk = chunk;
        self.chunk.clear();
        Ok(())
    }

    /// Ends the deflate stream (the open run's final block, or an empty final stored
    /// block) and writes the CRC-32 and length.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.chunk.is_empty() {
            self.emit()?;
        }
        if self.in_run {
            self.deflate(&[], FlushCompress::Finish)?;
        } else {
            self.inner.write_all(&[1, 0, 0, 0xff, 0xff])?;
        }
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Gzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.emit()?;
        }
        Ok(n)
    }

    /// Nothing to push early: a chunk goes out once it is full, or at [`Gzip::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn random(seed: u64, n: usize) -> Vec<u8> {
        stackwright_testkit::SplitMix64::new(seed).bytes(n)
    }

    fn text(n: usize) -> Vec<u8> {
        (0..)
            .flat_map(|i: u32| format!("line {i}: the quick brown fox\n").into_bytes())
            .take(n)
            .collect()
    }

    fn gzip(data: &[u8], piece: usize) -> Vec<u8> {
        let mut g = Gzip::new(Vec::new()).unwrap();
        for p in data.chunks(piece.max(1)) {
            g.write_all(p).unwrap();
        }
        g.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut d = flate2::read::GzDecoder::new(gz);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        // One member: nothing follows it.
        assert!(d.into_inner().is_empty());
        out
    }

    #[test]
    fn flat_chunks_are_stored_and_the_rest_compressed() {
        assert!(incompressible(&random(1, CHUNK)));
        assert!(!incompressible(&text(CHUNK)));
        assert!(!incompressible(&[0u8; CHUNK]));
        // Every byte value equally often, but in long runs: flat, stored (the documented
        // limit of an order-0 test).
        let runs: Vec<u8> = (0..CHUNK).map(|i| (i / 256) as u8).collect();
        assert!(incompressible(&runs));
        let r = random(2, 3 * CHUNK);
        let gz = gzip(&r, 4096);
        // Stored: 5 bytes per 64 KiB block beside the data, header and trailer.
        assert!(gz.len() <= r.len() + 3 * 2 * 5 + 5 + 18, "{}", gz.len());
        let t = text(3 * CHUNK);
        assert!(gzip(&t, 4096).len() < t.len() / 4);
    }

    #[test]
    fn round_trips_mixed_input_whatever_the_write_sizes() {
        let mut data = Vec::new();
        data.extend(text(CHUNK + 17));
        data.extend(random(3, 2 * CHUNK));
        data.extend(text(3 * CHUNK));
        data.extend(random(4, CHUNK / 2));
        data.extend(text(1000));
        let first = gzip(&data, 8192);
        assert_eq!(gunzip(&first), data);
        for piece in [1, 511, CHUNK, 3 * CHUNK + 5, data.len()] {
            assert_eq!(gzip(&data, piece), first, "written {piece} bytes at a time");
        }
        for edge in [Vec::new(), vec![7u8], random(5, CHUNK), text(CHUNK)] {
            assert_eq!(gunzip(&gzip(&edge, 100)), edge);
        }
    }

    #[test]
    fn the_header_carries_nothing_of_the_machine() {
        let gz = gzip(b"x", 1);
        assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }
}
