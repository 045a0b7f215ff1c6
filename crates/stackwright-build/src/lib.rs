//! Stackwright's builder: turns a LinuxKit [`Config`] plus an OCI image layout on disk
//! (every image of the config present by its `org.opencontainers.image.ref.name`) into
//! the platform's root filesystem, laid out as LinuxKit does, and writes it in the
//! requested [`Format`]s with LinuxKit's file names:
//!
//! | format          | files                                                       |
//! |-----------------|-------------------------------------------------------------|
//! | `tar`           | `<name>.tar`                                                |
//! | `kernel+initrd` | `<name>-kernel`, `<name>-initrd.img`, `<name>-cmdline`       |
//! | `raw-bios`      | `<name>-bios.img`                                           |
//! | `raw-efi`       | `<name>-efi.img`                                            |
//! | `qcow2-bios`    | `<name>.qcow2`                                              |
//! | `qcow2-efi`     | `<name>-efi.qcow2`                                          |
//! | `iso-bios`      | `<name>.iso`                                                |
//! | `iso-efi`       | `<name>-efi.iso`                                            |
//!
//! The disk images (`stackwright-disk`) boot the same kernel, initrd and cmdline as
//! `kernel+initrd`.
//!
//! The initrd is a gzip'd newc cpio of the same tree as the tar without `boot/*` (the
//! kernel, its cmdline and microcode are separate files, as in `linuxkit build`; a
//! `boot/ucode.cpio` is prepended uncompressed).
//!
//! Guarantees:
//! - **No network, no host leaks**: images come from the layout only; owners are the
//!   layers' numeric ids; every entry has the same mtime ([`BuildOptions::mtime`]: 0 unless the
//!   caller passes one, the facade `SOURCE_DATE_EPOCH`); entries are sorted; gzip headers carry no time or name. The
//!   same inputs give the same bytes.
//! - **Safe unpacking**: `..` names are refused, absolute names and symlinks are
//!   resolved inside the root (never followed out), hard links must name an existing
//!   file inside the image; device nodes are dropped and setuid/setgid bits cleared
//!   unless [`Policy`] allows them (each reported as a [`Note`]); decompression bombs
//!   stop at [`Limits`] (total bytes, entries, file size, path length) with a
//!   [`BuildError::LimitExceeded`] naming the image, layer and entry. Every blob is
//!   checked against its digest. Layers are gzip'd or plain tar, told apart by their
//!   magic number; zstd layers are refused with a clear error.
//! - **Atomic outputs**: every file is written to a temporary file in the output
//!   directory and renamed into place only when all formats succeeded.
//!
//! The module docs of `platform` and `spec` say where the layout and the
//! `config.json` follow LinuxKit and where they differ on purpose.

mod archive;
mod error;
mod layer;
mod platform;
mod progress;
mod source_layout;
pub mod spec;
mod tree;
#[allow(unsafe_code)] // the one unsafe module: its safety model is stated at its top
mod unpack;

use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use stackwright_types::assembly::InitrdCompression;
use stackwright_types::linuxkit::Config;

pub use error::{BuildError, LimitKind, Origin};
pub use layer::{Limits, Note, NoteKind, Policy};
pub use platform::image_places;
pub use progress::{BuildProgress, NoBuildProgress};
pub use source_layout::{host_arch, ImageSource, SourceLayout};
pub use stackwright_disk::DiskError;
pub use tree::{Content, Node, NodeKind, Spool, Tree};
pub use unpack::write_dir;

/// An output format of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `<name>.tar`: the whole tree.
    Tar,
    /// `<name>-kernel`, `<name>-initrd.img`, `<name>-cmdline`.
    KernelInitrd,
    /// A bootable disk image of the kernel, the initrd and the cmdline.
    Disk(stackwright_disk::Format),
}

impl Format {
    /// Whether this format boots the kernel (and so needs one in the config).
    pub fn needs_kernel(self) -> bool {
        !matches!(self, Format::Tar)
    }
}

impl FromStr for Format {
    type Err = BuildError;
    fn from_str(s: &str) -> Result<Self, BuildError> {
        match s {
            "tar" => Ok(Format::Tar),
            "kernel+initrd" => Ok(Format::KernelInitrd),
            other if stackwright_disk::Format::parse(other).is_some() => Ok(Format::Disk(
                stackwright_disk::Format::parse(other).expect("checked"),
            )),
            other => Err(BuildError::UnknownFormat(other.to_string())),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Tar => "tar",
            Format::KernelInitrd => "kernel+initrd",
            Format::Disk(d) => d.as_str(),
        })
    }
}

/// How to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Base of the output file names (`<name>.tar`, …), usually the assembly's name.
    pub name: String,
    pub formats: Vec<Format>,
    /// Where the outputs go (created if missing).
    pub out_dir: PathBuf,
    /// What relative `files[].source` paths are relative to (the assembly's directory).
    pub files_base: PathBuf,
    /// The platform's architecture in OCI spelling (`amd64`, `arm64`), to pick from
    /// multi-platform indexes.
    pub arch: String,
    pub limits: Limits,
    pub policy: Policy,
    /// The mtime of every entry, in seconds since the epoch.
    pub mtime: u64,
    /// Where file contents are spooled while the tree is built (default `/var/tmp`).
    pub temp_dir: Option<PathBuf>,
    /// The platform's SPDX document, written as `sbom.spdx.json` at the tree's root as
    /// `linuxkit build` writes its merged SBOM there (moby/build/build.go:406, sbom.go;
    /// LinuxKit's default name `sbom.spdx.json`, cmd/linuxkit/build.go:23). `None`: no
    /// SBOM in the tree (LinuxKit's `--no-sbom`).
    pub sbom: Option<Vec<u8>>,
    /// The size of disk images in bytes (`--disk-size`; default: the content plus the
    /// margin `stackwright-disk` documents).
    pub disk_size: Option<u64>,
    /// How the initrd is compressed (`[kernel] initrd`; default gzip, as LinuxKit).
    pub initrd: InitrdCompression,
}

impl BuildOptions {
    /// Defaults: the host's architecture, default limits and policy, mtime from
    /// 0 (the facade passes `SOURCE_DATE_EPOCH`; this crate reads no environment), `files` relative to the current
    /// directory.
    pub fn new(
        name: impl Into<String>,
        out_dir: impl Into<PathBuf>,
        formats: Vec<Format>,
    ) -> BuildOptions {
        BuildOptions {
            name: name.into(),
            formats,
            out_dir: out_dir.into(),
            files_base: PathBuf::from("."),
            arch: host_arch().to_string(),
            limits: Limits::default(),
            policy: Policy::default(),
            mtime: 0,
            temp_dir: None,
            sbom: None,
            disk_size: None,
            initrd: InitrdCompression::Gzip,
        }
    }
}

/// The static `stackwright-init` binary (x86_64) embedded at build time (see `build.rs`),
/// or why this build has none.
pub fn init_binary() -> Result<&'static [u8], &'static str> {
    static BIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stackwright-init"));
    static NOTE: &str = include_str!(concat!(env!("OUT_DIR"), "/stackwright-init.note"));
    if BIN.is_empty() {
        Err(NOTE)
    } else {
        Ok(BIN)
    }
}

/// What a build wrote and what it changed on purpose.
#[derive(Clone, Debug, Default)]
pub struct BuildOutput {
    /// The files written, in format order.
    pub files: Vec<PathBuf>,
    /// Device nodes skipped, setuid bits cleared, entries ignored.
    pub notes: Vec<Note>,
}

/// Builds the platform's tree without writing anything (for inspection and tests).
pub fn build_tree(
    config: &Config,
    layout: &Path,
    opts: &BuildOptions,
) -> Result<(Tree, Vec<Note>), BuildError> {
    platform::build_tree(config, layout, opts, &NoBuildProgress)
}

/// Builds and writes every requested format. Nothing is left in `out_dir` on failure,
/// and earlier outputs of the same names are replaced only when all formats succeeded.
pub fn build(
    config: &Config,
    layout: &Path,
    opts: &BuildOptions,
) -> Result<BuildOutput, BuildError> {
    build_with_progress(config, layout, opts, &NoBuildProgress)
}

/// [`build`], reporting what it unpacks and writes to `progress` as it goes.
pub fn build_with_progress(
    config: &Config,
    layout: &Path,
    opts: &BuildOptions,
    progress: &dyn BuildProgress,
) -> Result<BuildOutput, BuildError> {
    if opts.name.is_empty() || opts.name.contains('/') {
        return Err(BuildError::Options(format!(
            "output name `{}` must be a plain file name",
            opts.name
        )));
    }
    if opts.formats.is_empty() {
        return Err(BuildError::Options("no output format asked for".into()));
    }
    let has_kernel = config
        .kernel
        .as_ref()
        .and_then(|k| k.image.as_ref())
        .is_some();
    if let Some(f) = opts
        .formats
        .iter()
        .find(|f| f.needs_kernel() && !has_kernel)
    {
        return Err(BuildError::Options(format!(
            "`{f}` needs a kernel image in the config"
        )));
    }
    let (tree, notes) = platform::build_tree(config, layout, opts, progress)?;
    let files = write_formats_with_progress(&tree, opts, progress)?;
    Ok(BuildOutput { files, notes })
}

/// Writes `tree` in every format of `opts` (atomically, see [`build`]).
pub fn write_formats(tree: &Tree, opts: &BuildOptions) -> Result<Vec<PathBuf>, BuildError> {
    write_formats_with_progress(tree, opts, &NoBuildProgress)
}

/// [`write_formats`], reporting each output file to `progress` once written.
pub fn write_formats_with_progress(
    tree: &Tree,
    opts: &BuildOptions,
    progress: &dyn BuildProgress,
) -> Result<Vec<PathBuf>, BuildError> {
    use std::io::Write;
    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
    let mut stager = Stager {
        dir,
        progress,
        staged: Vec::new(),
    };
    let mtime = opts.mtime;
    let cmdline = tree.read_file("boot/cmdline").unwrap_or_default();
    let ucode = tree.read_file("boot/ucode.cpio").unwrap_or_default();
    let initrd = |w: &mut Staged<'_>| write_initrd(tree, &ucode, opts.initrd, mtime, w);
    // The kernel and initrd the disk images are made of: the staged kernel+initrd files
    // when that format is asked for too, else temporary files beside the outputs.
    let mut boot_files: Option<(PathBuf, PathBuf)> = None;
    let mut scratch: Vec<tempfile::NamedTempFile> = Vec::new();
    for format in &opts.formats {
        match format {
            Format::Tar => stager.stage(format!("{}.tar", opts.name), true, &|w| {
                archive::write_tar(tree, w, mtime, &|_| true)
            })?,
            Format::KernelInitrd => {
                let content = kernel_content(tree)?;
                stager.stage(format!("{}-kernel", opts.name), true, &|w| {
                    tree.spool().copy_to(content, w)
                })?;
                stager.stage(format!("{}-cmdline", opts.name), true, &|w| {
                    w.write_all(&cmdline)
                })?;
                stager.stage(format!("{}-initrd.img", opts.name), true, &initrd)?;
                let n = stager.staged.len();
                boot_files = Some((
                    stager.staged[n - 3].0.path().to_path_buf(),
                    stager.staged[n - 1].0.path().to_path_buf(),
                ));
            }
            Format::Disk(_) => {}
        }
    }
    for format in &opts.formats {
        let Format::Disk(disk) = format else { continue };
        if boot_files.is_none() {
            let content = kernel_content(tree)?;
            let mut scratch_stage = |file: &str| -> Result<usize, BuildError> {
                stager.stage(file.to_string(), false, &|w| {
                    if file.ends_with("-kernel") {
                        tree.spool().copy_to(content, w)
                    } else {
                        initrd(w)
                    }
                })?;
                let (tmp, _) = stager.staged.pop().expect("just staged");
                scratch.push(tmp);
                Ok(scratch.len() - 1)
            };
            let k = scratch_stage(&format!("{}-kernel", opts.name))?;
            let i = scratch_stage(&format!("{}-initrd.img", opts.name))?;
            boot_files = Some((
                scratch[k].path().to_path_buf(),
                scratch[i].path().to_path_buf(),
            ));
        }
        let (kernel, initrd) = boot_files.as_ref().expect("made above");
        let cmdline = String::from_utf8_lossy(&cmdline);
        let input = stackwright_disk::Input {
            kernel,
            initrd,
            cmdline: cmdline.trim(),
            mtime,
            size: opts.disk_size,
            temp_dir: Some(dir),
        };
        stager.disk(*disk, &input, &opts.name)?;
    }
    drop(scratch);
    stager.commit()
}

/// A staged output file being written.
type Staged<'f> = std::io::BufWriter<&'f std::fs::File>;

/// The outputs of one build, each written to a temporary file in the output directory and
/// renamed into place only when all of them are written.
struct Stager<'a> {
    dir: &'a Path,
    progress: &'a dyn BuildProgress,
    staged: Vec<(tempfile::NamedTempFile, PathBuf)>,
}

impl Stager<'_> {
    /// A temporary file beside the output `file`.
    fn temp_file(&self, file: &str) -> Result<tempfile::NamedTempFile, BuildError> {
        tempfile::Builder::new()
            .prefix(&format!(".{file}."))
            .suffix(".tmp")
            .tempfile_in(self.dir)
            .map_err(|e| BuildError::io(self.dir, e))
    }

    /// Stages `file` as `write` writes it, synced. `output`: a file of the build's outputs
    /// (reported), not a scratch file a disk image is made from.
    fn stage(
        &mut self,
        file: String,
        output: bool,
        write: &dyn Fn(&mut Staged<'_>) -> std::io::Result<()>,
    ) -> Result<(), BuildError> {
        use std::io::Write;
        let target = self.dir.join(&file);
        let tmp = self.temp_file(&file)?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
            write(&mut w).map_err(|e| BuildError::io(&target, e))?;
            w.flush().map_err(|e| BuildError::io(&target, e))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| BuildError::io(&target, e))?;
        if output {
            let size = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
            self.progress.output_written(&file, size);
        }
        self.staged.push((tmp, target));
        Ok(())
    }

    /// Stages the disk image of format `disk` made of `input`.
    fn disk(
        &mut self,
        disk: stackwright_disk::Format,
        input: &stackwright_disk::Input<'_>,
        name: &str,
    ) -> Result<(), BuildError> {
        let file = disk.file_name(name);
        let target = self.dir.join(&file);
        let tmp = self.temp_file(&file)?;
        stackwright_disk::write(disk, input, tmp.path()).map_err(|source| BuildError::Disk {
            file: file.clone(),
            source,
        })?;
        let size = std::fs::metadata(tmp.path()).map(|m| m.len()).unwrap_or(0);
        self.progress.output_written(&file, size);
        self.staged.push((tmp, target));
        Ok(())
    }

    /// Renames every staged file into place (mode 0644); returns their paths.
    fn commit(self) -> Result<Vec<PathBuf>, BuildError> {
        let mut out = Vec::new();
        for (tmp, target) in self.staged {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(|e| BuildError::io(tmp.path(), e))?;
            tmp.persist(&target)
                .map_err(|e| BuildError::io(&target, e.error))?;
            out.push(target);
        }
        Ok(out)
    }
}

/// The tree's `boot/kernel` file.
fn kernel_content(tree: &Tree) -> Result<&Content, BuildError> {
    let kernel = tree
        .get("boot/kernel")
        .ok_or_else(|| BuildError::Options("the tree has no boot/kernel".into()))?;
    let NodeKind::File { content, .. } = &kernel.kind else {
        return Err(BuildError::Options("boot/kernel is not a file".into()));
    };
    Ok(content)
}

/// The initrd: the microcode cpio (if any), then the platform (everything but `boot/`)
/// as a newc cpio, gzip'd or in the kernel's legacy LZ4 format.
fn write_initrd(
    tree: &Tree,
    ucode: &[u8],
    compression: InitrdCompression,
    mtime: u64,
    w: &mut Staged<'_>,
) -> std::io::Result<()> {
    use std::io::Write;
    w.write_all(ucode)?;
    let platform = |k: &[u8]| !k.starts_with(b"boot/");
    match compression {
        InitrdCompression::Gzip => {
            let mut gz = archive::gzip(&mut *w);
            archive::write_cpio(tree, &mut gz, mtime, &platform)?;
            gz.finish()?;
        }
        InitrdCompression::Lz4 => {
            let mut lz = archive::Lz4Legacy::new(&mut *w)?;
            archive::write_cpio(tree, &mut lz, mtime, &platform)?;
            lz.finish()?;
        }
    }
    Ok(())
}

/// Applies one layer blob (gzip'd or plain tar) to `tree` with the same rules, limits
/// and policy as a build: the entry point for tools that feed layers from elsewhere
/// (and for the fuzz targets in `tests/fuzz`). `digest`, when given (`sha256:…`), is
/// checked against the blob's bytes. Returns the notes (devices skipped, setuid bits
/// cleared, entries ignored).
pub fn apply_layer(
    tree: &mut Tree,
    blob: impl std::io::Read,
    digest: Option<&str>,
    origin: &Origin,
    limits: Limits,
    policy: Policy,
) -> Result<Vec<Note>, BuildError> {
    let mut notes = Vec::new();
    let mut budget = layer::Budget::default();
    let mut ctx = layer::Ctx {
        limits,
        policy,
        notes: &mut notes,
    };
    layer::apply_blob(tree, blob, digest, origin, &mut budget, &mut ctx)?;
    Ok(notes)
}

/// Options of [`unpack_image`].
#[derive(Clone, Debug)]
pub struct UnpackOptions {
    pub arch: String,
    pub limits: Limits,
    pub policy: Policy,
    pub mtime: u64,
    pub temp_dir: Option<PathBuf>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            arch: host_arch().to_string(),
            limits: Limits::default(),
            policy: Policy::default(),
            mtime: 0,
            temp_dir: None,
        }
    }
}

/// Unpacks one image of a layout into `dest` as a root filesystem (its layers applied
/// in order, whiteouts honoured, no LinuxKit touch-ups) — `umoci unpack`'s `rootfs/`.
pub fn unpack_image(
    layout: &Path,
    reference: &str,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<Vec<Note>, BuildError> {
    let (tree, mut notes) = image_tree(layout, reference, opts)?;
    notes.extend(write_dir(&tree, dest, opts.policy, opts.mtime)?);
    Ok(notes)
}

/// One image of a layout flattened into a tree.
pub fn image_tree(
    layout: &Path,
    reference: &str,
    opts: &UnpackOptions,
) -> Result<(Tree, Vec<Note>), BuildError> {
    let layout = SourceLayout::open(layout)?;
    let src = layout.image(reference, &opts.arch)?;
    let spool = Spool::new(
        opts.temp_dir
            .clone()
            .unwrap_or_else(tree::default_spool_dir),
    );
    let mut unpacker = platform::Unpacker {
        layout: &layout,
        spool,
        limits: opts.limits,
        policy: opts.policy,
        notes: Vec::new(),
        progress: &NoBuildProgress,
    };
    let tree = unpacker.image_tree(&src)?;
    Ok((tree, unpacker.notes))
}
