//! Reusing the lockfile of an output directory, as `stackwright assemble` and `push` do.
//!
//! A rerun into the same output directory keeps the choices its `stackwright.lock`
//! recorded, wherever the assembly still allows them: the versions (the solver prefers
//! them), the image digests, and the digests of published (`oci://`) parents (fetched by
//! digest, not by tag, so a moved tag does not change the platform). Where the assembly
//! no longer allows a locked version, it is resolved afresh and warning SW0403 says
//! which. A lock written for another assembly is not used. `update` ignores the lock.

use std::path::{Path, PathBuf};

use stackwright_assembly::Loaded;
use stackwright_types::lock::Lockfile;

use crate::{Assembled, Assembler, Error};

/// Where an assembly named `name` is written when no output directory is given:
/// `out/<name>`, relative to the current directory (what the command line does).
pub fn default_out_dir(name: &str) -> PathBuf {
    Path::new("out").join(name)
}

/// An assembly read together with the lock of its output directory.
#[derive(Clone, Debug)]
pub struct Locked {
    pub loaded: Loaded,
    /// The lock of `out`, when there is one for this assembly and it is to be used.
    pub lock: Option<Lockfile>,
    /// The output directory: the one given, else [`default_out_dir`] of the name.
    pub out: PathBuf,
}

impl Assembler {
    /// Reads the assembly at `path` with the lockfile of its output directory: `out`, or
    /// [`default_out_dir`] of the assembly's name, known only once it is read (so it is
    /// read again when that lock pins a published parent to another digest than its tag
    /// names now). Published parents are fetched at the digests the lock records. With
    /// `update` the lock is neither read nor used. A lock that cannot be read is an error
    /// naming it (never silently replaced).
    pub async fn load_locked(
        &self,
        path: &Path,
        out: Option<&Path>,
        update: bool,
    ) -> Result<Locked, Error> {
        let for_this = |lock: Option<Lockfile>, loaded: &Loaded| {
            lock.filter(|l| !update && l.assembly == loaded.name)
        };
        if let Some(out) = out {
            let lock = if update { None } else { crate::read_lock(out)? };
            let loaded = self.load_pinned(path, lock.as_ref()).await?;
            return Ok(Locked {
                lock: for_this(lock, &loaded),
                loaded,
                out: out.to_path_buf(),
            });
        }
        let loaded = self.load_pinned(path, None).await?;
        let out = default_out_dir(&loaded.name);
        if update {
            return Ok(Locked {
                loaded,
                lock: None,
                out,
            });
        }
        let lock = for_this(crate::read_lock(&out)?, &loaded);
        let moved = lock.as_ref().is_some_and(|lock| {
            loaded
                .parents
                .iter()
                .any(|p| lock.parent_digest(&p.uri).is_some_and(|d| d != p.digest))
        });
        let loaded = if moved {
            self.load_pinned(path, lock.as_ref()).await?
        } else {
            loaded
        };
        Ok(Locked { loaded, lock, out })
    }

    /// [`Assembler::load_locked`] for synchronous callers (refused inside an async
    /// runtime: [`Error::BlockingInRuntime`]).
    pub fn load_locked_blocking(
        &self,
        path: &Path,
        out: Option<&Path>,
        update: bool,
    ) -> Result<Locked, Error> {
        crate::blocking::run(
            "Assembler::load_locked_blocking",
            "Assembler::load_locked",
            self.load_locked(path, out, update),
        )?
    }

    /// Reads, resolves and validates the assembly at `path` keeping the choices of its
    /// output directory's lock ([`Assembler::load_locked`]); returns it with that
    /// directory. This assembler's own lock ([`Assembler::with_lock`]) is replaced.
    pub async fn assemble_locked(
        &self,
        path: &Path,
        out: Option<&Path>,
        update: bool,
    ) -> Result<(Assembled, PathBuf), Error> {
        let Locked { loaded, lock, out } = self.load_locked(path, out, update).await?;
        let assembled = self.clone().with_lock(lock).assemble_loaded(loaded)?;
        Ok((assembled, out))
    }

    /// [`Assembler::assemble_locked`] for synchronous callers (refused inside an async
    /// runtime: [`Error::BlockingInRuntime`]).
    pub fn assemble_locked_blocking(
        &self,
        path: &Path,
        out: Option<&Path>,
        update: bool,
    ) -> Result<(Assembled, PathBuf), Error> {
        crate::blocking::run(
            "Assembler::assemble_locked_blocking",
            "Assembler::assemble_locked",
            self.assemble_locked(path, out, update),
        )?
    }
}
