//! Atomic output directories.
//!
//! Everything is written into a staging directory beside the target; only when every
//! file is complete is the staging directory swapped into place. A failed or interrupted
//! run leaves the previous output untouched (and at worst a `.name.staging-*` directory,
//! which the next run removes).

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
    /// Creates the staging directory next to `target` (same filesystem, so the final
    /// rename is atomic), removing stale ones left by interrupted runs.
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
        if let Ok(rd) = std::fs::read_dir(parent) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                // Only directories of dead processes: a concurrent run keeps its own.
                if let Some(pid) = n
                    .strip_prefix(&prefix)
                    .and_then(|r| r.split('-').next())
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!("{prefix}{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(Staging {
            target: target.to_path_buf(),
            path,
            committed: false,
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one file (fully, then fsync) under the staging directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let p = self.path.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)?;
        f.sync_all()
    }

    /// Swaps the staging directory into place. The old output is moved aside first and
    /// removed only after the new one is in place; if the swap fails, it is put back.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        if let Ok(d) = std::fs::File::open(&self.path) {
            let _ = d.sync_all();
        }
        let old = self.path.with_extension("old");
        let had_old = self.target.exists();
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
            let _ = std::fs::remove_dir_all(&old);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_discards() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out").join("k8s");
        let s = Staging::begin(&target).unwrap();
        s.write("a.txt", b"one").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"one");

        let s = Staging::begin(&target).unwrap();
        s.write("a.txt", b"two").unwrap();
        drop(s); // a failed run
        assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"one");
        let left: Vec<_> = std::fs::read_dir(d.path().join("out"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(left.len(), 1, "staging directory left behind");

        let s = Staging::begin(&target).unwrap();
        s.write("b.txt", b"three").unwrap();
        s.commit().unwrap();
        assert!(!target.join("a.txt").exists());
        assert_eq!(std::fs::read(target.join("b.txt")).unwrap(), b"three");
    }
}
