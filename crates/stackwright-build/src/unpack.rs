//! Writing a [`Tree`] out as a directory: an image's root filesystem on disk, what
//! `umoci unpack` does.
//!
//! The destination must be new (or an empty directory), and the tree has no key that
//! passes through a symlink, so every entry is created inside it by construction; files
//! are opened with `O_EXCL | O_NOFOLLOW` all the same. Owners are applied only when
//! running as root (otherwise the files belong to the caller); device nodes are created
//! only when allowed and running as root; directory modes and times are set last,
//! deepest first, so a read-only directory does not stop its own unpacking.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{BuildError, Origin};
use crate::layer::{Note, NoteKind, Policy};
use crate::tree::{Content, Node, NodeKind, Tree};

fn cpath(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::other("NUL in path"))
}

fn set_times(p: &Path, mtime: u64) -> std::io::Result<()> {
    let c = cpath(p)?;
    let ts = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: `c` is a valid NUL-terminated path and `times` two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let c = cpath(p)?;
    let n = CString::new(name).map_err(|_| std::io::Error::other("NUL in xattr name"))?;
    // SAFETY: valid C strings and a byte slice with its length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn mknod(p: &Path, kind: libc::mode_t, perm: u32, major: u32, minor: u32) -> std::io::Result<()> {
    let c = cpath(p)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: a valid path; mknod only creates the node.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | perm as libc::mode_t, dev) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Copies a spooled content into `f` without passing through user space.
fn copy_content(tree: &Tree, content: &Content, f: &mut fs::File) -> std::io::Result<()> {
    match content {
        Content::Inline(b) => f.write_all(b),
        Content::Spooled { offset, len } => tree.spool().with_file(|spool| {
            let Some(spool) = spool else {
                return Err(std::io::Error::other("spool file missing"));
            };
            use std::os::fd::AsRawFd;
            let mut off_in = *offset as libc::loff_t;
            let mut left = *len as usize;
            while left > 0 {
                // SAFETY: two open file descriptors; the kernel advances `off_in`.
                let n = unsafe {
                    libc::copy_file_range(
                        spool.as_raw_fd(),
                        &mut off_in,
                        f.as_raw_fd(),
                        std::ptr::null_mut(),
                        left,
                        0,
                    )
                };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EXDEV) | Some(libc::ENOSYS) | Some(libc::EINVAL)
                    ) {
                        // The caller falls back to plain reads and writes.
                        return Err(std::io::Error::from_raw_os_error(libc::EXDEV));
                    }
                    return Err(e);
                }
                if n == 0 {
                    return Err(std::io::Error::other("spool file shorter than expected"));
                }
                left -= n as usize;
            }
            Ok(())
        }),
    }
}

/// Whether the process may chown and mknod.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Writes `tree` into `dest` (created if missing; must be empty otherwise).
pub fn write_dir(
    tree: &Tree,
    dest: &Path,
    policy: Policy,
    mtime: u64,
) -> Result<Vec<Note>, BuildError> {
    let io = |p: &Path, e: std::io::Error| BuildError::io(p.to_path_buf(), e);
    match fs::read_dir(dest) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(BuildError::Options(format!(
                    "{} is not empty",
                    dest.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(|e| io(dest, e))?
        }
        Err(e) => return Err(io(dest, e)),
    }
    let root = is_root();
    let mut notes = Vec::new();
    let mut first_link: HashMap<u64, PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, &Node)> = Vec::new();
    let origin = Origin::default();
    for (key, node) in tree.iter() {
        let path = if key.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(std::ffi::OsStr::from_bytes(key))
        };
        match &node.kind {
            NodeKind::Dir => {
                if !key.is_empty() {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&path)
                        .map_err(|e| io(&path, e))?;
                }
                dirs.push((path, node));
                continue;
            }
            NodeKind::File { content, inode } => {
                if let Some(first) = first_link.get(inode) {
                    fs::hard_link(first, &path).map_err(|e| io(&path, e))?;
                    continue;
                }
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                match copy_content(tree, content, &mut f) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                        use std::io::Seek;
                        f.set_len(0).map_err(|e| io(&path, e))?;
                        f.rewind().map_err(|e| io(&path, e))?;
                        tree.spool()
                            .copy_to(content, &mut f)
                            .map_err(|e| io(&path, e))?;
                    }
                    Err(e) => return Err(io(&path, e)),
                }
                first_link.insert(*inode, path.clone());
            }
            NodeKind::Symlink(t) => {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(t), &path)
                    .map_err(|e| io(&path, e))?;
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                if !(policy.allow_devices && root) {
                    notes.push(Note {
                        origin: origin.clone(),
                        path: String::from_utf8_lossy(key).into_owned(),
                        what: NoteKind::DeviceSkipped,
                    });
                    continue;
                }
                let kind = if matches!(node.kind, NodeKind::CharDevice { .. }) {
                    libc::S_IFCHR
                } else {
                    libc::S_IFBLK
                };
                mknod(&path, kind, 0o600, *major, *minor).map_err(|e| io(&path, e))?;
            }
            NodeKind::Fifo => mknod(&path, libc::S_IFIFO, 0o600, 0, 0).map_err(|e| io(&path, e))?,
        }
        finish(&path, node, root, mtime).map_err(|e| io(&path, e))?;
    }
    for (path, node) in dirs.iter().rev() {
        finish(path, node, root, mtime).map_err(|e| io(path, e))?;
    }
    Ok(notes)
}

/// Owner, mode, xattrs and time, in that order (chown clears setuid bits).
fn finish(path: &Path, node: &Node, root: bool, mtime: u64) -> std::io::Result<()> {
    let symlink = matches!(node.kind, NodeKind::Symlink(_));
    if root {
        std::os::unix::fs::lchown(path, Some(node.uid as u32), Some(node.gid as u32))?;
    }
    if !symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(node.mode & 0o7777))?;
    }
    for (k, v) in &node.xattrs {
        if let Err(e) = set_xattr(path, k, v) {
            // Unprivileged callers cannot set trusted.* / security.* attributes;
            // filesystems without xattrs refuse them all. Neither is fatal for a rootfs.
            if root && e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e);
            }
        }
    }
    set_times(path, mtime)
}
