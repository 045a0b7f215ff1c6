//! `stackwright diff A B`: what changed between two platforms, each given as a lockfile or
//! as an output directory holding one (`stackwright.lock`).

use std::path::{Path, PathBuf};

use stackwright_types::lock::Lockfile;
use stackwright_types::lockdiff::LockDiff;

use crate::Error;

/// The lock a path stands for: the file itself, or `stackwright.lock` inside a directory.
pub fn lock_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("stackwright.lock")
    } else {
        path.to_path_buf()
    }
}

/// Reads the lock `path` stands for ([`lock_path`]); a missing one is an error naming it.
pub fn read_side(path: &Path) -> Result<Lockfile, Error> {
    let file = lock_path(path);
    crate::read_lock_file(&file)?.ok_or_else(|| Error::Io {
        context: format!("reading {}", file.display()),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not found (give a stackwright.lock, or an output directory written by `stackwright assemble`)",
        ),
    })
}

/// The differences between the platforms at `a` (before) and `b` (after).
pub fn diff_paths(a: &Path, b: &Path) -> Result<LockDiff, Error> {
    let (la, lb) = (read_side(a)?, read_side(b)?);
    Ok(stackwright_types::lockdiff::diff(&la, &lb))
}
