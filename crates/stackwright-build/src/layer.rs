//! Applying image layers (tar streams, gzip'd or not) to a [`Tree`], the way container
//! runtimes do: in order, whiteouts (`.wh.<name>`) and opaque directories
//! (`.wh..wh..opq`) hiding what lower layers put there.
//!
//! Every entry goes through the safety rules of [`Policy`] and [`Limits`]:
//! - names: `..` components are refused; absolute names land inside the root; parents
//!   resolve inside the tree (a symlink pointing out is clamped at the root, so writing
//!   "through" it stays inside); a hard link must name an existing non-directory inside
//!   the tree;
//! - device nodes are dropped unless [`Policy::allow_devices`]; setuid/setgid bits are
//!   cleared unless [`Policy::allow_setuid`] (both are reported as [`Note`]s);
//! - total decompressed bytes, entry count, file size and path length are capped, so a
//!   decompression bomb fails with a clear error instead of filling the disk.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};

use sha2::{Digest, Sha256};

use crate::error::{BuildError, LimitKind, Origin};
use crate::tree::{components, show, Node, NodeKind, Tree};

/// Caps that make hostile or broken archives fail early. They apply per image (all its
/// layers together); a kernel's `kernel.tar` counts as an image of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of decompressed tar stream (headers included). Default 16 GiB.
    pub max_total_bytes: u64,
    /// Archive entries. Default 2,000,000.
    pub max_entries: u64,
    /// Size of one file. Default 4 GiB.
    pub max_file_size: u64,
    /// Bytes in one path or link target (one component may hold at most 255). Default 4096.
    pub max_path_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 16 << 30,
            max_entries: 2_000_000,
            max_file_size: 4 << 30,
            max_path_len: 4096,
        }
    }
}

/// What to do with entries that carry privileges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep character and block device nodes. Off by default: runtimes populate
    /// `/dev` themselves, and a device node in an image is a way into host hardware.
    /// In a tar or cpio they are just headers; when unpacking to a directory they are
    /// created only when running as root (otherwise reported and skipped).
    pub allow_devices: bool,
    /// Keep setuid and setgid bits on files (setgid on directories is always kept: it
    /// only steers group inheritance). Off by default. File capabilities
    /// (`security.capability` xattrs) are kept as they are part of the image's design.
    pub allow_setuid: bool,
}

/// Something the build changed or dropped on purpose, for the caller to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub origin: Origin,
    pub path: String,
    pub what: NoteKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteKind {
    DeviceSkipped,
    SetuidCleared {
        mode: u32,
    },
    /// An entry type this builder does not reproduce (e.g. a PAX global header).
    Ignored {
        entry_type: u8,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.what {
            NoteKind::DeviceSkipped => {
                write!(f, "{}: `{}`: device node skipped", self.origin, self.path)
            }
            NoteKind::SetuidCleared { mode } => {
                write!(
                    f,
                    "{}: `{}`: setuid/setgid cleared (mode {mode:04o})",
                    self.origin, self.path
                )
            }
            NoteKind::Ignored { entry_type } => write!(
                f,
                "{}: `{}`: entry type `{}` ignored",
                self.origin, self.path, *entry_type as char
            ),
        }
    }
}

/// Running totals for one image, checked against [`Limits`].
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub bytes: u64,
    pub entries: u64,
}

/// Options shared by every layer of a build.
pub(crate) struct Ctx<'a> {
    pub limits: Limits,
    pub policy: Policy,
    pub notes: &'a mut Vec<Note>,
}

/// Compression of a layer, by magic number (media types lie often enough).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

pub(crate) fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Counts (and caps) the decompressed bytes.
struct Counting<'b, R> {
    inner: R,
    bytes: &'b mut u64,
    max: u64,
    over: bool,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.bytes += n as u64;
        if *self.bytes > self.max {
            self.over = true;
            return Err(std::io::Error::other("total bytes limit"));
        }
        Ok(n)
    }
}

/// Hashes what it reads (the compressed blob), to check it against its digest.
pub(crate) struct Hashing<R> {
    pub inner: R,
    pub hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Applies one layer blob read from `raw` (compressed or not) to `tree`. When `digest`
/// is given (`sha256:…`), the blob's bytes are checked against it.
pub(crate) fn apply_blob(
    tree: &mut Tree,
    raw: impl Read,
    digest: Option<&str>,
    origin: &Origin,
    budget: &mut Budget,
    ctx: &mut Ctx<'_>,
) -> Result<(), BuildError> {
    let mut hashing = Hashing {
        inner: raw,
        hasher: Sha256::new(),
    };
    {
        let mut buffered = BufReader::with_capacity(256 * 1024, &mut hashing);
        let head = buffered
            .fill_buf()
            .map_err(|e| archive(origin, format!("reading: {e}")))?;
        let compression = sniff(head);
        match compression {
            Compression::Gzip => {
                let dec = flate2::bufread::MultiGzDecoder::new(&mut buffered);
                apply_tar(tree, dec, origin, budget, ctx)?;
            }
            Compression::None => apply_tar(tree, &mut buffered, origin, budget, ctx)?,
            Compression::Zstd => return Err(archive(
                origin,
                "zstd-compressed layers are not supported yet (re-push the image with gzip layers)"
                    .into(),
            )),
        }
        // The tar end marker can come before the end of the blob: hash the rest too.
        std::io::copy(&mut buffered, &mut std::io::sink())
            .map_err(|e| archive(origin, format!("reading: {e}")))?;
    }
    if let Some(want) = digest {
        let got = format!(
            "sha256:{}",
            stackwright_types::hex::encode(&hashing.hasher.finalize())
        );
        if want.starts_with("sha256:") && got != want {
            return Err(BuildError::Blob {
                image: origin.image.clone(),
                digest: want.to_string(),
                reason: format!("content does not match its digest (got {got})"),
            });
        }
    }
    Ok(())
}

fn archive(origin: &Origin, reason: String) -> BuildError {
    BuildError::Archive {
        origin: origin.clone(),
        reason,
    }
}

fn limit(origin: &Origin, path: &[u8], kind: LimitKind, value: u64, max: u64) -> BuildError {
    BuildError::LimitExceeded {
        origin: origin.clone(),
        path: show(path),
        kind,
        value,
        max,
    }
}

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Applies an uncompressed tar stream.
pub(crate) fn apply_tar(
    tree: &mut Tree,
    r: impl Read,
    origin: &Origin,
    budget: &mut Budget,
    ctx: &mut Ctx<'_>,
) -> Result<(), BuildError> {
    let max_total = ctx.limits.max_total_bytes;
    let Budget {
        bytes,
        entries: entry_count,
    } = budget;
    let mut counting = Counting {
        inner: r,
        bytes,
        max: max_total,
        over: false,
    };
    // Keys this layer created: whiteouts only hide what lower layers put there.
    let mut added: BTreeSet<Vec<u8>> = BTreeSet::new();
    let result = (|| -> Result<(), BuildError> {
        let mut ar = tar::Archive::new(&mut counting);
        let entries = ar.entries().map_err(|e| archive(origin, e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| archive(origin, e.to_string()))?;
            apply_entry(tree, &mut entry, origin, &mut added, entry_count, ctx)?;
        }
        Ok(())
    })();
    if counting.over {
        return Err(limit(
            origin,
            b"(stream)",
            LimitKind::TotalBytes,
            *counting.bytes,
            max_total,
        ));
    }
    result?;
    Ok(())
}

fn apply_entry<R: Read>(
    tree: &mut Tree,
    entry: &mut tar::Entry<'_, R>,
    origin: &Origin,
    added: &mut BTreeSet<Vec<u8>>,
    entry_count: &mut u64,
    ctx: &mut Ctx<'_>,
) -> Result<(), BuildError> {
    let limits = ctx.limits;
    let path = entry.path_bytes().into_owned();
    *entry_count += 1;
    if *entry_count > limits.max_entries {
        return Err(limit(
            origin,
            &path,
            LimitKind::Entries,
            *entry_count,
            limits.max_entries,
        ));
    }
    check_path_len(&path, origin, limits)?;
    let header = entry.header();
    let kind = header.entry_type();
    let size = entry.size();
    if size > limits.max_file_size {
        return Err(limit(
            origin,
            &path,
            LimitKind::FileSize,
            size,
            limits.max_file_size,
        ));
    }
    let comps = components(&path).map_err(|reason| BuildError::UnsafeEntry {
        origin: origin.clone(),
        path: show(&path),
        reason,
    })?;
    let Some(name) = comps.last().copied() else {
        // The root itself (`./`): only a directory can describe it.
        if kind.is_dir() {
            let node = node_meta(Node::dir(0), entry, origin, &path, ctx)?;
            tree.put(Vec::new(), node);
        }
        return Ok(());
    };

    // Whiteouts.
    if name == OPAQUE || name.starts_with(WHITEOUT) {
        return apply_whiteout(tree, &comps, name, added, origin, &path);
    }

    let (parent, _) = tree
        .resolve_parent(&path, true)
        .map_err(|e| e.into_build(origin, &path))?
        .expect("non-empty path");
    let key = if parent.is_empty() {
        name.to_vec()
    } else {
        [parent.as_slice(), b"/", name].concat()
    };

    let node = match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let content = tree
                .spool()
                .store(entry, size)
                .map_err(|e| archive(origin, format!("`{}`: {e}", show(&path))))?;
            Some(Node::file(content, 0))
        }
        tar::EntryType::Directory => Some(Node::dir(0)),
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            check_path_len(&target, origin, limits)?;
            Some(Node::symlink(target))
        }
        tar::EntryType::Link => {
            return apply_hard_link(tree, entry, key, &path, origin, limits, added);
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            device_node(kind, header, &key, origin, ctx)
        }
        tar::EntryType::Fifo => Some(Node {
            kind: NodeKind::Fifo,
            mode: 0,
            uid: 0,
            gid: 0,
            xattrs: Default::default(),
        }),
        other => {
            ctx.notes.push(Note {
                origin: origin.clone(),
                path: show(&path),
                what: NoteKind::Ignored {
                    entry_type: other.as_byte(),
                },
            });
            None
        }
    };
    if let Some(node) = node {
        let node = node_meta(node, entry, origin, &key, ctx)?;
        tree.put(key.clone(), node);
        added.insert(key);
    }
    Ok(())
}

/// A whiteout (`.wh.NAME` hides NAME) or an opaque-directory marker (`.wh..wh..opq`
/// hides what lower layers put in the directory), keeping what this layer added.
fn apply_whiteout(
    tree: &mut Tree,
    comps: &[&[u8]],
    name: &[u8],
    added: &BTreeSet<Vec<u8>>,
    origin: &Origin,
    path: &[u8],
) -> Result<(), BuildError> {
    let parent_path = comps[..comps.len() - 1].join(&b'/');
    let dir = match tree
        .resolve_parent(&[parent_path.as_slice(), b"/x"].concat(), false)
        .map_err(|e| e.into_build(origin, path))?
    {
        Some((d, _)) => d,
        None => return Ok(()), // hiding something that is not there
    };
    if name == OPAQUE {
        for k in tree.descendant_keys(&dir) {
            if !added.contains(&k) && !has_added_below(added, &k) {
                tree.remove(&k);
            }
        }
    } else {
        let hidden = &name[WHITEOUT.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(BuildError::UnsafeEntry {
                origin: origin.clone(),
                path: show(path),
                reason: "malformed whiteout".into(),
            });
        }
        let key = if dir.is_empty() {
            hidden.to_vec()
        } else {
            [dir.as_slice(), b"/", hidden].concat()
        };
        if !added.contains(&key) {
            tree.remove(&key);
        }
    }
    Ok(())
}

/// A hard link: the target (which must exist, and not be a directory) shares its inode,
/// so the same content and metadata, under `key`.
fn apply_hard_link<R: Read>(
    tree: &mut Tree,
    entry: &tar::Entry<'_, R>,
    key: Vec<u8>,
    path: &[u8],
    origin: &Origin,
    limits: Limits,
    added: &mut BTreeSet<Vec<u8>>,
) -> Result<(), BuildError> {
    let target = entry
        .link_name_bytes()
        .map(|c| c.into_owned())
        .unwrap_or_default();
    check_path_len(&target, origin, limits)?;
    let unsafe_link = |reason: String| BuildError::UnsafeEntry {
        origin: origin.clone(),
        path: show(path),
        reason,
    };
    let tkey = tree
        .resolve_existing(&target, true)
        .map_err(|e| unsafe_link(format!("hard link target `{}`: {e}", show(&target))))?
        .ok_or_else(|| {
            unsafe_link(format!(
                "hard link target `{}` does not exist in the image",
                show(&target)
            ))
        })?;
    let tnode = tree.get_mut(&tkey).expect("resolved").clone();
    if tnode.is_dir() {
        return Err(unsafe_link(format!(
            "hard link to directory `{}`",
            show(&target)
        )));
    }
    if tkey == key {
        return Ok(()); // a link to itself: nothing to do
    }
    // A hard link shares the target's inode: same content, same metadata.
    tree.put(key.clone(), tnode);
    added.insert(key);
    Ok(())
}

/// A character or block device, unless the policy skips devices (with a note).
fn device_node(
    kind: tar::EntryType,
    header: &tar::Header,
    key: &[u8],
    origin: &Origin,
    ctx: &mut Ctx<'_>,
) -> Option<Node> {
    if !ctx.policy.allow_devices {
        ctx.notes.push(Note {
            origin: origin.clone(),
            path: show(key),
            what: NoteKind::DeviceSkipped,
        });
        return None;
    }
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    Some(Node {
        kind: if kind == tar::EntryType::Char {
            NodeKind::CharDevice { major, minor }
        } else {
            NodeKind::BlockDevice { major, minor }
        },
        mode: 0,
        uid: 0,
        gid: 0,
        xattrs: Default::default(),
    })
}

fn has_added_below(added: &BTreeSet<Vec<u8>>, key: &[u8]) -> bool {
    let mut lo = key.to_vec();
    lo.push(b'/');
    let mut hi = key.to_vec();
    hi.push(b'/' + 1);
    added.range(lo..hi).next().is_some()
}

fn check_path_len(p: &[u8], origin: &Origin, limits: Limits) -> Result<(), BuildError> {
    if p.len() as u64 > limits.max_path_len {
        return Err(limit(
            origin,
            &p[..64.min(p.len())],
            LimitKind::PathLength,
            p.len() as u64,
            limits.max_path_len,
        ));
    }
    if let Some(c) = p.split(|b| *b == b'/').find(|c| c.len() > 255) {
        return Err(limit(
            origin,
            &p[..64.min(p.len())],
            LimitKind::PathLength,
            c.len() as u64,
            255,
        ));
    }
    Ok(())
}

/// Mode, owners and xattrs from the header, with the privilege policy applied.
fn node_meta<R: Read>(
    mut node: Node,
    entry: &mut tar::Entry<'_, R>,
    origin: &Origin,
    key: &[u8],
    ctx: &mut Ctx<'_>,
) -> Result<Node, BuildError> {
    let h = entry.header();
    let bad = |what: &str, e: std::io::Error| {
        archive(origin, format!("`{}`: bad {what}: {e}", show(key)))
    };
    // Blank numeric fields read as 0, as Go's and GNU's tar readers do.
    let blank = |f: &[u8]| f.iter().all(|b| *b == 0 || *b == b' ');
    let old = h.as_old();
    let num = |r: std::io::Result<u64>, raw: &[u8], what: &str| match r {
        Ok(v) => Ok(v),
        Err(_) if blank(raw) => Ok(0),
        Err(e) => Err(bad(what, e)),
    };
    let mut mode = num(h.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
    node.uid = num(h.uid(), &old.uid, "uid")?;
    node.gid = num(h.gid(), &old.gid, "gid")?;
    let priv_bits = if node.is_dir() { 0o4000 } else { 0o6000 };
    if mode & priv_bits != 0
        && !ctx.policy.allow_setuid
        && !matches!(node.kind, NodeKind::Symlink(_))
    {
        ctx.notes.push(Note {
            origin: origin.clone(),
            path: show(key),
            what: NoteKind::SetuidCleared { mode },
        });
        mode &= !priv_bits;
    }
    node.mode = if matches!(node.kind, NodeKind::Symlink(_)) {
        0o777
    } else {
        mode
    };
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad("PAX record", e))?;
            if let Ok(k) = ext.key() {
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    node.xattrs
                        .insert(name.to_string(), ext.value_bytes().to_vec());
                }
            }
        }
    }
    Ok(node)
}
