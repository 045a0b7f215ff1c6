//! Atomic output directories, the one mechanism every Stackwright output uses (the
//! facade's rendered platform, `stackwright-oci`'s pulled image layouts, the LinuxKit
//! import's files, shared assemblies fetched back).
//!
//! Everything is written into a staging directory beside the target
//! (`.NAME.staging-PID-N`, same filesystem, so the final rename is atomic); only when every
//! file is complete is the staging directory swapped into place. The old output is moved
//! aside first and removed only after the new one is in place; if the swap fails it is put
//! back. A failed or interrupted run leaves the previous output untouched (and at worst a
//! `.NAME.staging-*` directory of a dead process, which the next run removes).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A staging directory that becomes `target` on [`Staging::commit`], and disappears if
/// dropped uncommitted.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the staging directory next to `target` (creating the parent), removing
    /// stale ones left by interrupted runs of processes that are gone.
    pub fn begin(target: &Path) -> std::io::Result<Staging> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let prefix = format!(".{name}.staging-");
        remove_stale(parent, &prefix);
        for n in 0u32.. {
            let path = parent.join(format!("{prefix}{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(Staging {
                        target: target.to_path_buf(),
                        path,
                        committed: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free staging directory name"))
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory this becomes on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes one file (fully, then fsync) under the staging directory, creating its
    /// parent directories.
    pub fn write(&self, name: impl AsRef<Path>, bytes: &[u8]) -> std::io::Result<()> {
        let p = self.path.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)?;
        f.sync_all()
    }

    /// Swaps the staging directory into place and returns the target. The old output
    /// (a directory, a file or a dangling symlink) is moved aside first and removed only
    /// after the new one is in place; if the swap fails, it is put back.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        if let Ok(d) = std::fs::File::open(&self.path) {
            let _ = d.sync_all();
        }
        let old = self.path.with_extension("old");
        let had_old = std::fs::symlink_metadata(&self.target).is_ok();
        if had_old {
            std::fs::rename(&self.target, &old)?;
        }
        if let Err(e) = std::fs::rename(&self.path, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(e);
        }
        self.committed = true;
        if had_old {
            if std::fs::symlink_metadata(&old).is_ok_and(|m| m.is_dir()) {
                let _ = std::fs::remove_dir_all(&old);
            } else {
                let _ = std::fs::remove_file(&old);
            }
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `PREFIX<pid>-…` entries of `parent` whose process is gone (a concurrent run
/// keeps its own), with their `.old` leftovers.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let pid = n
            .strip_prefix(prefix)
            .and_then(|r| r.split(['-', '.']).next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out").join("k8s");
        let s = Staging::begin(&target).unwrap();
        s.write("a.txt", b"one").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"one");

        let s = Staging::begin(&target).unwrap();
        s.write("sub/a.txt", b"two").unwrap();
        drop(s); // a failed run
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"one");
        assert_eq!(
            entries(&d.path().join("out")),
            ["k8s"],
            "staging directory left behind"
        );

        let s = Staging::begin(&target).unwrap();
        s.write("b.txt", b"three").unwrap();
        s.commit().unwrap();
        assert!(!target.join("a.txt").exists());
        assert_eq!(std::fs::read(target.join("b.txt")).unwrap(), b"three");
        assert_eq!(
            entries(&d.path().join("out")),
            ["k8s"],
            "old output left behind"
        );
    }

    #[test]
    fn two_stagings_of_one_target_do_not_collide() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("images");
        let a = Staging::begin(&target).unwrap();
        let b = Staging::begin(&target).unwrap();
        assert_ne!(a.path(), b.path());
        a.write("x", b"a").unwrap();
        b.write("x", b"b").unwrap();
        a.commit().unwrap();
        b.commit().unwrap();
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"b");
        assert_eq!(entries(d.path()), ["images"]);
    }

    #[test]
    fn a_file_or_dangling_symlink_at_the_target_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &target).unwrap();
        let s = Staging::begin(&target).unwrap();
        s.write("f", b"x").unwrap();
        s.commit().unwrap();
        assert!(target.join("f").exists());
        std::fs::remove_dir_all(&target).unwrap();
        std::fs::write(&target, b"a file").unwrap();
        let s = Staging::begin(&target).unwrap();
        s.commit().unwrap();
        assert!(target.is_dir());
        assert_eq!(entries(d.path()), ["out"]);
    }

    #[test]
    fn stale_stagings_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // PIDs above the kernel's pid_max (4194304) never belong to a live process.
        let stale = d.path().join(".out.staging-4999999-0");
        std::fs::create_dir_all(stale.join("half")).unwrap();
        let live = d
            .path()
            .join(format!(".out.staging-{}-77", std::process::id()));
        std::fs::create_dir(&live).unwrap();
        let other = d.path().join(".other.staging-4999999-0");
        std::fs::create_dir(&other).unwrap();
        let s = Staging::begin(&d.path().join("out")).unwrap();
        assert!(!stale.exists());
        assert!(live.exists(), "this process's own staging is kept");
        assert!(other.exists(), "another target's staging is not touched");
        drop(s);
    }
}
