//! An in-memory file tree: what a root filesystem will hold, before it is written as
//! a tar, a cpio or a directory.
//!
//! Paths are byte strings relative to the root (`""` is the root itself, `"etc/hosts"`
//! a file), kept in a `BTreeMap` so iteration is sorted and every parent comes before
//! its children. The tree keeps one invariant that makes every writer safe: **no key
//! passes through a symlink** — every proper prefix of a key is a directory. Paths from
//! archives are resolved component by component inside the tree, following symlinks
//! the way the kernel would but with `/` and `..` clamped at the tree's root
//! (`openat2(RESOLVE_IN_ROOT)` semantics, in userspace), so nothing can point a later
//! write outside.
//!
//! File contents live in a [`Spool`]: small files in memory, the rest in an unlinked
//! temporary file, so a large image does not have to fit in RAM.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{BuildError, LimitKind, Origin};

/// Files up to this size are kept in memory (while the memory budget lasts).
const INLINE_MAX: u64 = 64 * 1024;
/// How many bytes of small files the spool keeps in memory before spilling everything
/// to its temporary file.
const INLINE_BUDGET: u64 = 256 * 1024 * 1024;
/// Symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
pub(crate) const MAX_SYMLINK_HOPS: u64 = 40;

/// Where file contents are kept while a tree is built.
pub struct Spool {
    inner: Mutex<SpoolInner>,
    dir: std::path::PathBuf,
}

struct SpoolInner {
    file: Option<File>,
    len: u64,
    inline_bytes: u64,
}

impl Spool {
    /// A spool whose temporary file (created on first need) lives in `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Arc<Spool> {
        Arc::new(Spool {
            inner: Mutex::new(SpoolInner {
                file: None,
                len: 0,
                inline_bytes: 0,
            }),
            dir: dir.into(),
        })
    }

    /// Reads exactly `len` bytes from `r` into the spool.
    pub(crate) fn store(&self, r: &mut dyn Read, len: u64) -> std::io::Result<Content> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if len <= INLINE_MAX && inner.inline_bytes + len <= INLINE_BUDGET {
            let mut buf = vec![0u8; len as usize];
            r.read_exact(&mut buf)?;
            inner.inline_bytes += len;
            return Ok(Content::Inline(buf.into()));
        }
        if inner.file.is_none() {
            inner.file = Some(tempfile::tempfile_in(&self.dir)?);
        }
        let offset = inner.len;
        let mut buf = vec![0u8; (len.min(256 * 1024)) as usize];
        let mut done = 0u64;
        let file = inner.file.as_ref().expect("created above");
        while done < len {
            let want = (len - done).min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..want])?;
            file.write_all_at(&buf[..want], offset + done)?;
            done += want as u64;
        }
        inner.len += len;
        Ok(Content::Spooled { offset, len })
    }

    /// Copies a content's bytes into `w`.
    pub(crate) fn copy_to(&self, c: &Content, w: &mut dyn Write) -> std::io::Result<()> {
        match c {
            Content::Inline(b) => w.write_all(b),
            Content::Spooled { offset, len } => {
                let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let file = inner
                    .file
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("spool file missing"))?;
                let mut buf = vec![0u8; (*len).min(1024 * 1024) as usize];
                let mut done = 0u64;
                while done < *len {
                    let want = (*len - done).min(buf.len() as u64) as usize;
                    file.read_exact_at(&mut buf[..want], offset + done)?;
                    w.write_all(&buf[..want])?;
                    done += want as u64;
                }
                Ok(())
            }
        }
    }

    /// A content's bytes, read whole (for small things: the kernel cmdline, a passwd file).
    pub(crate) fn read(&self, c: &Content) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(c.len() as usize);
        self.copy_to(c, &mut v)?;
        Ok(v)
    }

    /// The spool file and the offset of a spooled content, for `copy_file_range`.
    pub(crate) fn with_file<T>(&self, f: impl FnOnce(Option<&File>) -> T) -> T {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(inner.file.as_ref())
    }
}

/// The bytes of a regular file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Inline(Arc<[u8]>),
    Spooled { offset: u64, len: u64 },
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Inline(b) => b.len() as u64,
            Content::Spooled { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn bytes(b: impl Into<Vec<u8>>) -> Content {
        Content::Inline(b.into().into())
    }
}

static NEXT_INODE: AtomicU64 = AtomicU64::new(1);

/// A fresh inode number: files sharing one are hard links of each other.
pub(crate) fn new_inode() -> u64 {
    NEXT_INODE.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File { content: Content, inode: u64 },
    Symlink(Vec<u8>),
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

/// One entry of the tree. Timestamps are not kept: every output uses one fixed mtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// Permission bits, including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Extended attributes (e.g. `security.capability`), by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Node {
    pub fn dir(mode: u32) -> Node {
        Node::new(NodeKind::Dir, mode)
    }

    pub fn file(content: Content, mode: u32) -> Node {
        Node::new(
            NodeKind::File {
                content,
                inode: new_inode(),
            },
            mode,
        )
    }

    pub fn symlink(target: impl Into<Vec<u8>>) -> Node {
        Node::new(NodeKind::Symlink(target.into()), 0o777)
    }

    fn new(kind: NodeKind, mode: u32) -> Node {
        Node {
            kind,
            mode,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }
    }

    pub fn owned(mut self, uid: u64, gid: u64) -> Node {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir)
    }
}

/// The path a problem is about, for messages.
pub(crate) fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// Splits an archive entry name into its components: leading `/` and `./` dropped (an
/// absolute name lands inside the root, as every container runtime treats it), `.`
/// and empty components dropped, `..` refused.
pub(crate) fn components(name: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` component: the entry would climb out of the root".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        name.to_vec()
    } else {
        let mut k = Vec::with_capacity(parent.len() + 1 + name.len());
        k.extend_from_slice(parent);
        k.push(b'/');
        k.extend_from_slice(name);
        k
    }
}

/// The end of the key range holding `key`'s descendants (`key/…`), exclusive.
fn descendants(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if key.is_empty() {
        return (vec![0], vec![0xff; 1]);
    }
    let mut lo = key.to_vec();
    lo.push(b'/');
    let mut hi = key.to_vec();
    hi.push(b'/' + 1);
    (lo, hi)
}

/// A resolved parent directory key and the final component's name.
pub(crate) type ParentAndName = (Vec<u8>, Vec<u8>);

/// A root filesystem being assembled.
#[derive(Clone)]
pub struct Tree {
    nodes: BTreeMap<Vec<u8>, Node>,
    spool: Arc<Spool>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.nodes.iter().map(|(k, v)| (show(k), v)))
            .finish()
    }
}

impl Tree {
    /// An empty tree: just the root directory (0755, root-owned).
    pub fn new(spool: Arc<Spool>) -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert(Vec::new(), Node::dir(0o755));
        Tree { nodes, spool }
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Every entry, the root (`""`) first, parents before children, sorted by bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_slice(), v))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The entry at exactly this key (no symlink resolution).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.nodes.get(key.trim_matches('/').as_bytes())
    }

    /// The bytes of the regular file at `key`, if it is one.
    pub fn read_file(&self, key: &str) -> Option<Vec<u8>> {
        match &self.get(key)?.kind {
            NodeKind::File { content, .. } => self.spool.read(content).ok(),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Node> {
        self.nodes.get_mut(key)
    }

    /// Resolves the parent directories of `path` inside the tree (following symlinks,
    /// clamped at the root) and returns the key of the parent and the final name. With
    /// `create`, missing directories are made (0755, root-owned), as container image
    /// appliers do.
    pub(crate) fn resolve_parent(
        &mut self,
        path: &[u8],
        create: bool,
    ) -> Result<Option<ParentAndName>, ResolveError> {
        let comps = components(path).map_err(ResolveError::Unsafe)?;
        let Some((last, parents)) = comps.split_last() else {
            return Ok(None);
        };
        let dir = self.resolve_dir(parents.iter().map(|c| c.to_vec()).collect(), create)?;
        match dir {
            Some(d) => Ok(Some((d, last.to_vec()))),
            None => Ok(None),
        }
    }

    /// Walks `comps` from the root; returns the key of the directory reached, or `None`
    /// when a component is missing and `create` is false.
    fn resolve_dir(
        &mut self,
        comps: Vec<Vec<u8>>,
        create: bool,
    ) -> Result<Option<Vec<u8>>, ResolveError> {
        let mut todo: std::collections::VecDeque<Vec<u8>> = comps.into();
        let mut cur: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0u64;
        while let Some(c) = todo.pop_front() {
            if c.is_empty() || c == b"." {
                continue;
            }
            if c == b".." {
                cur.pop();
                continue;
            }
            let parent = cur.join(&b'/');
            let key = join(&parent, &c);
            match self.nodes.get(&key).map(|n| &n.kind) {
                Some(NodeKind::Dir) => cur.push(c),
                Some(NodeKind::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(ResolveError::Hops(show(&key)));
                    }
                    let target = target.clone();
                    if target.first() == Some(&b'/') {
                        cur.clear();
                    }
                    for t in target.split(|b| *b == b'/').rev() {
                        todo.push_front(t.to_vec());
                    }
                }
                Some(_) => return Err(ResolveError::NotDir(show(&key))),
                None if create => {
                    self.nodes.insert(key, Node::dir(0o755));
                    cur.push(c);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(cur.join(&b'/')))
    }

    /// Resolves a whole path (the last component too, following a final symlink
    /// unless `nofollow`) to an existing key.
    pub(crate) fn resolve_existing(
        &mut self,
        path: &[u8],
        nofollow: bool,
    ) -> Result<Option<Vec<u8>>, ResolveError> {
        if components(path).map_err(ResolveError::Unsafe)?.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let Some((parent, name)) = self.resolve_parent(path, false)? else {
            return Ok(None);
        };
        let key = join(&parent, &name);
        match self.nodes.get(&key).map(|n| &n.kind) {
            None => Ok(None),
            Some(NodeKind::Symlink(t)) if !nofollow => {
                let mut p = if t.first() == Some(&b'/') {
                    Vec::new()
                } else {
                    parent.clone()
                };
                let t = t.clone();
                p.push(b'/');
                p.extend_from_slice(&t);
                // `..` in a symlink target is legitimate: clamp it lexically first.
                let clean = clamp(&p);
                self.resolve_existing(&clean, false)
            }
            Some(_) => Ok(Some(key)),
        }
    }

    /// Places `node` at `key` (whose parents must already be directories): a directory
    /// over a directory only takes the new metadata and keeps its children; anything
    /// else replaces what was there, a whole subtree included.
    pub(crate) fn put(&mut self, key: Vec<u8>, node: Node) {
        if let Some(old) = self.nodes.get_mut(&key) {
            if old.is_dir() && node.is_dir() {
                old.mode = node.mode;
                old.uid = node.uid;
                old.gid = node.gid;
                old.xattrs = node.xattrs;
                return;
            }
            if old.is_dir() {
                self.remove_descendants(&key);
            }
        }
        self.nodes.insert(key, node);
    }

    /// Inserts at a path given by name, resolving (and creating) parents inside the tree.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), ResolveError> {
        match self.resolve_parent(path.as_bytes(), true)? {
            Some((parent, name)) => {
                self.put(join(&parent, &name), node);
                Ok(())
            }
            None => {
                // The root itself: only its metadata can change.
                if node.is_dir() {
                    self.put(Vec::new(), node);
                }
                Ok(())
            }
        }
    }

    /// Removes `key` and everything under it.
    pub(crate) fn remove(&mut self, key: &[u8]) {
        if key.is_empty() {
            self.remove_descendants(key);
            return;
        }
        self.nodes.remove(key);
        self.remove_descendants(key);
    }

    pub(crate) fn remove_descendants(&mut self, key: &[u8]) {
        let (lo, hi) = descendants(key);
        let doomed: Vec<Vec<u8>> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Keys strictly below `key`.
    pub(crate) fn descendant_keys(&self, key: &[u8]) -> Vec<Vec<u8>> {
        let (lo, hi) = descendants(key);
        self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect()
    }

    /// Copies every entry of `other` (already resolved: no key passes a symlink) under
    /// `prefix`, which is created as directories (0755, root-owned) if missing. `other`'s
    /// root directory metadata lands on `prefix` itself.
    pub fn graft(&mut self, prefix: &str, other: &Tree) -> Result<(), ResolveError> {
        let prefix = prefix.trim_matches('/');
        let base = if prefix.is_empty() {
            Vec::new()
        } else {
            let comps = components(prefix.as_bytes()).map_err(ResolveError::Unsafe)?;
            self.resolve_dir(comps.iter().map(|c| c.to_vec()).collect(), true)?
                .expect("created")
        };
        for (k, n) in other.iter() {
            let key = if k.is_empty() {
                base.clone()
            } else {
                join(&base, k)
            };
            self.put(key, n.clone());
        }
        Ok(())
    }
}

/// Removes `.` and `..` lexically, never above the root.
fn clamp(p: &[u8]) -> Vec<u8> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join(&b'/')
}

/// Why a path could not be resolved inside the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Unsafe(String),
    NotDir(String),
    Hops(String),
}

impl ResolveError {
    pub(crate) fn into_build(self, origin: &Origin, path: &[u8]) -> BuildError {
        match self {
            ResolveError::Unsafe(reason) => BuildError::UnsafeEntry {
                origin: origin.clone(),
                path: show(path),
                reason,
            },
            ResolveError::NotDir(p) => BuildError::UnsafeEntry {
                origin: origin.clone(),
                path: show(path),
                reason: format!("parent `{p}` is not a directory"),
            },
            ResolveError::Hops(p) => BuildError::LimitExceeded {
                origin: origin.clone(),
                path: format!("{} (at `{p}`)", show(path)),
                kind: LimitKind::SymlinkHops,
                value: MAX_SYMLINK_HOPS + 1,
                max: MAX_SYMLINK_HOPS,
            },
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Unsafe(r) => f.write_str(r),
            ResolveError::NotDir(p) => write!(f, "parent `{p}` is not a directory"),
            ResolveError::Hops(p) => write!(f, "too many symlinks at `{p}`"),
        }
    }
}

/// Where a spool's temporary file goes by default: `/var/tmp` (meant for big files,
/// unlike a RAM-backed `/tmp`), else the system's temporary directory.
pub(crate) fn default_spool_dir() -> std::path::PathBuf {
    let var_tmp = Path::new("/var/tmp");
    if var_tmp.is_dir() {
        var_tmp.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::new(Spool::new(std::env::temp_dir()))
    }

    #[test]
    fn symlinked_parent_resolves_inside_root() {
        let mut t = tree();
        t.insert("etc", Node::symlink("/../../host/etc")).unwrap();
        t.insert("etc/passwd", Node::file(Content::bytes("x"), 0o644))
            .unwrap();
        assert!(t.get("host/etc/passwd").is_some(), "{t:?}");
        assert!(t
            .get("etc")
            .is_some_and(|n| matches!(n.kind, NodeKind::Symlink(_))));
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let mut t = tree();
        t.insert("a", Node::symlink("b")).unwrap();
        t.insert("b", Node::symlink("a")).unwrap();
        assert!(matches!(
            t.insert("a/x", Node::dir(0o755)),
            Err(ResolveError::Hops(_))
        ));
    }

    #[test]
    fn dir_over_dir_keeps_children_file_over_dir_drops_them() {
        let mut t = tree();
        t.insert("d/f", Node::file(Content::bytes("x"), 0o644))
            .unwrap();
        t.insert("d", Node::dir(0o700)).unwrap();
        assert_eq!(t.get("d").unwrap().mode, 0o700);
        assert!(t.get("d/f").is_some());
        t.insert("d", Node::file(Content::bytes("y"), 0o644))
            .unwrap();
        assert!(t.get("d/f").is_none());
    }

    #[test]
    fn sorted_keys_put_parents_first() {
        let mut t = tree();
        for p in ["a-b", "a/b", "a.c/d", "a"] {
            t.insert(p, Node::dir(0o755)).unwrap();
        }
        let keys: Vec<String> = t.iter().map(|(k, _)| show(k)).collect();
        assert_eq!(keys, ["", "a", "a-b", "a.c", "a.c/d", "a/b"]);
    }
}
