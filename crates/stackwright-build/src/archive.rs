//! Serialising a [`Tree`] as a tar (ustar with PAX records where needed) or as a newc
//! cpio, byte for byte reproducibly: sorted entries, one fixed mtime, owners and modes
//! as in the tree, no user or group names, nothing from the host.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::tree::{NodeKind, Tree};

/// Which entries go into an archive (the root itself is never written).
pub(crate) type Filter<'a> = &'a dyn Fn(&[u8]) -> bool;

fn octal(field: &mut [u8], v: u64) {
    // `len - 1` digits then NUL, zero padded.
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    let s = s.as_bytes();
    field[..digits].copy_from_slice(&s[s.len() - digits..]);
    field[digits] = 0;
}

fn fits(v: u64, digits: u32) -> bool {
    v < 8u64.pow(digits)
}

struct Hdr<'a> {
    name: &'a [u8],
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: &'a [u8],
    major: u32,
    minor: u32,
}

fn ustar_block(h: &Hdr<'_>) -> [u8; 512] {
    let mut b = [0u8; 512];
    let n = h.name.len().min(100);
    b[..n].copy_from_slice(&h.name[..n]);
    octal(&mut b[100..108], u64::from(h.mode));
    octal(&mut b[108..116], h.uid.min(0o7777777));
    octal(&mut b[116..124], h.gid.min(0o7777777));
    octal(&mut b[124..136], h.size.min(0o77777777777));
    octal(&mut b[136..148], h.mtime.min(0o77777777777));
    b[156] = h.typeflag;
    let l = h.link.len().min(100);
    b[157..157 + l].copy_from_slice(&h.link[..l]);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    octal(&mut b[329..337], u64::from(h.major));
    octal(&mut b[337..345], u64::from(h.minor));
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
    b
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn pad(w: &mut impl Write, len: u64, to: u64) -> io::Result<()> {
    let rem = len % to;
    if rem != 0 {
        w.write_all(&vec![0u8; (to - rem) as usize])?;
    }
    Ok(())
}

fn write_entry(
    w: &mut impl Write,
    h: &Hdr<'_>,
    xattrs: &std::collections::BTreeMap<String, Vec<u8>>,
) -> io::Result<()> {
    let mut pax = Vec::new();
    if h.name.len() > 100 {
        pax_record(&mut pax, "path", h.name);
    }
    if h.link.len() > 100 {
        pax_record(&mut pax, "linkpath", h.link);
    }
    if !fits(h.uid, 7) {
        pax_record(&mut pax, "uid", h.uid.to_string().as_bytes());
    }
    if !fits(h.gid, 7) {
        pax_record(&mut pax, "gid", h.gid.to_string().as_bytes());
    }
    if !fits(h.size, 11) {
        pax_record(&mut pax, "size", h.size.to_string().as_bytes());
    }
    for (k, v) in xattrs {
        pax_record(&mut pax, &format!("SCHILY.xattr.{k}"), v);
    }
    if !pax.is_empty() {
        let base = h
            .name
            .rsplit(|b| *b == b'/')
            .find(|c| !c.is_empty())
            .unwrap_or(b"x");
        let mut pname = b"PaxHeaders/".to_vec();
        pname.extend_from_slice(&base[..base.len().min(80)]);
        let ph = Hdr {
            name: &pname,
            typeflag: b'x',
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: pax.len() as u64,
            mtime: h.mtime,
            link: b"",
            major: 0,
            minor: 0,
        };
        w.write_all(&ustar_block(&ph))?;
        w.write_all(&pax)?;
        pad(w, pax.len() as u64, 512)?;
    }
    w.write_all(&ustar_block(h))
}

/// Writes the tree (minus the root and what `keep` refuses) as a tar stream.
pub(crate) fn write_tar(
    tree: &Tree,
    w: &mut impl Write,
    mtime: u64,
    keep: Filter<'_>,
) -> io::Result<()> {
    let mut first_path: HashMap<u64, Vec<u8>> = HashMap::new();
    for (key, node) in tree.iter() {
        if key.is_empty() || !keep(key) {
            continue;
        }
        let mut name = key.to_vec();
        if node.is_dir() {
            name.push(b'/');
        }
        let mut h = Hdr {
            name: &name,
            typeflag: b'0',
            mode: node.mode & 0o7777,
            uid: node.uid,
            gid: node.gid,
            size: 0,
            mtime,
            link: b"",
            major: 0,
            minor: 0,
        };
        match &node.kind {
            NodeKind::Dir => h.typeflag = b'5',
            NodeKind::Symlink(t) => {
                h.typeflag = b'2';
                h.link = t;
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                h.typeflag = if matches!(node.kind, NodeKind::CharDevice { .. }) {
                    b'3'
                } else {
                    b'4'
                };
                h.major = *major;
                h.minor = *minor;
            }
            NodeKind::Fifo => h.typeflag = b'6',
            NodeKind::File { content, inode } => {
                if let Some(first) = first_path.get(inode) {
                    let first = first.clone();
                    h.typeflag = b'1';
                    h.link = &first;
                    write_entry(w, &h, &node.xattrs)?;
                    continue;
                }
                first_path.insert(*inode, key.to_vec());
                h.size = content.len();
                write_entry(w, &h, &node.xattrs)?;
                tree.spool().copy_to(content, w)?;
                pad(w, content.len(), 512)?;
                continue;
            }
        }
        write_entry(w, &h, &node.xattrs)?;
    }
    w.write_all(&[0u8; 1024])
}

fn newc_header(w: &mut impl Write, name: &[u8], f: [u64; 13]) -> io::Result<()> {
    // 13 fields of 8 hex digits: ino, mode, uid, gid, nlink, mtime, filesize,
    // devmajor, devminor, rdevmajor, rdevminor, namesize, check.
    let mut h = String::with_capacity(110);
    h.push_str("070701");
    for v in f {
        h.push_str(&format!("{:08x}", v));
    }
    w.write_all(h.as_bytes())?;
    w.write_all(name)?;
    w.write_all(&[0])?;
    pad(w, 110 + name.len() as u64 + 1, 4)
}

fn too_big(what: &str, key: &[u8]) -> io::Error {
    io::Error::other(format!(
        "`{}`: {what} does not fit in a newc cpio header",
        String::from_utf8_lossy(key)
    ))
}

/// Writes the tree (minus the root and what `keep` refuses) as a newc cpio stream, the
/// initramfs format. Hard links share an inode number, with the data on the last one
/// (what the kernel and GNU cpio expect).
pub(crate) fn write_cpio(
    tree: &Tree,
    w: &mut impl Write,
    mtime: u64,
    keep: Filter<'_>,
) -> io::Result<()> {
    let entries: Vec<_> = tree
        .iter()
        .filter(|(k, _)| !k.is_empty() && keep(k))
        .collect();
    let mut links: HashMap<u64, (u64, usize)> = HashMap::new(); // inode -> (count, last index)
    for (i, (_, n)) in entries.iter().enumerate() {
        if let NodeKind::File { inode, .. } = &n.kind {
            let e = links.entry(*inode).or_insert((0, i));
            e.0 += 1;
            e.1 = i;
        }
    }
    let mut ino_of: HashMap<u64, u64> = HashMap::new();
    let mut next_ino = 1u64;
    for (i, (key, node)) in entries.iter().enumerate() {
        let perm = u64::from(node.mode & 0o7777);
        let (fmt, nlink, size, rmaj, rmin) = match &node.kind {
            NodeKind::Dir => (0o040000, 2, 0, 0, 0),
            NodeKind::File { content, inode } => {
                let (count, last) = links[inode];
                let size = if last == i { content.len() } else { 0 };
                (0o100000, count, size, 0, 0)
            }
            NodeKind::Symlink(t) => (0o120000, 1, t.len() as u64, 0, 0),
            NodeKind::CharDevice { major, minor } => {
                (0o020000, 1, 0, u64::from(*major), u64::from(*minor))
            }
            NodeKind::BlockDevice { major, minor } => {
                (0o060000, 1, 0, u64::from(*major), u64::from(*minor))
            }
            NodeKind::Fifo => (0o010000, 1, 0, 0, 0),
        };
        let ino = match &node.kind {
            NodeKind::File { inode, .. } => *ino_of.entry(*inode).or_insert_with(|| {
                next_ino += 1;
                next_ino - 1
            }),
            _ => {
                next_ino += 1;
                next_ino - 1
            }
        };
        for (v, what) in [
            (node.uid, "uid"),
            (node.gid, "gid"),
            (size, "size"),
            (mtime, "mtime"),
        ] {
            if v > u64::from(u32::MAX) {
                return Err(too_big(what, key));
            }
        }
        let name_len = key.len() as u64 + 1;
        newc_header(
            w,
            key,
            [
                ino,
                fmt | perm,
                node.uid,
                node.gid,
                nlink,
                mtime,
                size,
                0,
                0,
                rmaj,
                rmin,
                name_len,
                0,
            ],
        )?;
        match &node.kind {
            NodeKind::Symlink(t) => {
                w.write_all(t)?;
                pad(w, t.len() as u64, 4)?;
            }
            NodeKind::File { content, .. } if size > 0 => {
                tree.spool().copy_to(content, w)?;
                pad(w, size, 4)?;
            }
            _ => {}
        }
    }
    newc_header(w, b"TRAILER!!!", [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0])
}

/// A gzip writer with a fixed header (no mtime, no file name), so equal input gives
/// equal bytes.
pub(crate) fn gzip<W: Write>(w: W) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(w, flate2::Compression::default())
}

/// The kernel's legacy LZ4 format (`lz4 -l`, what `CONFIG_RD_LZ4` unpacks,
/// lib/decompress_unlz4.c): the magic, then each 8 MiB of input as one LZ4 block, prefixed
/// by its compressed size (little endian). Same input, same bytes.
pub(crate) struct Lz4Legacy<W: Write> {
    out: W,
    chunk: Vec<u8>,
}

/// The legacy format's magic number and the uncompressed size of its chunks.
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_LEGACY_CHUNK: usize = 8 << 20;

impl<W: Write> Lz4Legacy<W> {
    pub(crate) fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&LZ4_LEGACY_MAGIC.to_le_bytes())?;
        Ok(Lz4Legacy {
            out,
            chunk: Vec::with_capacity(LZ4_LEGACY_CHUNK),
        })
    }

    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let block = lz4_flex::block::compress(&self.chunk);
        let len = u32::try_from(block.len()).map_err(std::io::Error::other)?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&block)?;
        self.chunk.clear();
        Ok(())
    }

    /// Writes the last chunk; returns the inner writer.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.flush_chunk()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Lz4Legacy<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(LZ4_LEGACY_CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == LZ4_LEGACY_CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // A chunk is written whole (the format has no partial chunks): only at 8 MiB or
        // at `finish`.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The legacy LZ4 stream over more than one 8 MiB chunk, read back by the reference
    /// `lz4` tool (what `CONFIG_RD_LZ4` reads is what `lz4 -l` writes).
    #[test]
    fn lz4_legacy_is_what_the_lz4_tool_reads() {
        let mut input = Vec::new();
        let mut x: u32 = 1;
        while input.len() < 19 << 20 {
            // Some runs, some noise: both kinds of LZ4 sequence.
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if x % 3 == 0 {
                input.extend(std::iter::repeat_n((x >> 8) as u8, (x % 300) as usize));
            } else {
                input.extend_from_slice(&x.to_le_bytes());
            }
        }
        let mut lz = Lz4Legacy::new(Vec::new()).unwrap();
        // Odd write sizes across the chunk boundaries.
        for part in input.chunks(777_777) {
            lz.write_all(part).unwrap();
        }
        let stream = lz.finish().unwrap();
        assert_eq!(stream[..4], [0x02, 0x21, 0x4c, 0x18], "legacy magic");
        let again = Lz4Legacy::new(Vec::new())
            .and_then(|mut l| l.write_all(&input).map(|()| l))
            .and_then(|l| l.finish())
            .unwrap();
        assert_eq!(stream, again, "same input, same bytes");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.lz4");
        std::fs::write(&file, &stream).unwrap();
        let out = std::process::Command::new("lz4")
            .args(["-d", "-c"])
            .arg(&file)
            .output()
            .expect("lz4 is needed (apt-get install -y lz4; cargo xtask test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == input,
            "lz4 -d gave back {} of {} bytes",
            out.stdout.len(),
            input.len()
        );
    }
    use crate::tree::{Content, Node, Spool};

    fn sample() -> Tree {
        let mut t = Tree::new(Spool::new(std::env::temp_dir()));
        t.insert("bin", Node::dir(0o755)).unwrap();
        t.insert("bin/sh", Node::file(Content::bytes("#!shell"), 0o755))
            .unwrap();
        t.insert("bin/ash", Node::symlink("sh")).unwrap();
        let long = format!("d/{}", "x".repeat(150));
        t.insert(
            &long,
            Node::file(Content::bytes("long"), 0o600).owned(1000, 5_000_000),
        )
        .unwrap();
        t
    }

    #[test]
    fn tar_reads_back_with_the_tar_crate() {
        let t = sample();
        let mut out = Vec::new();
        write_tar(&t, &mut out, 0, &|_| true).unwrap();
        let mut ar = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let gid = e.header().gid().unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            seen.push((p, gid, body));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names[..4], ["bin/", "bin/ash", "bin/sh", "d/"]);
        assert_eq!(seen[4].1, 5_000_000, "large gid goes through PAX");
        assert_eq!(seen[4].2, "long");
        assert!(seen[4].0.ends_with(&"x".repeat(150)));
    }

    #[test]
    fn cpio_is_newc_and_ends_with_trailer() {
        let t = sample();
        let mut out = Vec::new();
        write_cpio(&t, &mut out, 0, &|_| true).unwrap();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        let tail = String::from_utf8_lossy(&out[out.len() - 128..]).into_owned();
        assert!(tail.contains("TRAILER!!!"));
    }
}
