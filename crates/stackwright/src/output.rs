//! Writing an assembled platform ([`write()`]): the text outputs always, plus what
//! [`WriteOptions`] asks for (pinning, pulling, the [`Format`]s) — all into one staging
//! directory ([`Staging`], from `stackwright-staging`) swapped into place at the end, so a
//! failure anywhere (a registry error, a digest mismatch, Ctrl-C) leaves the previous
//! output as it was.
//!
//! [`write()`] is async and runs on the caller's runtime; [`write_blocking`] is the same for
//! synchronous callers. The signature is the same with or without the `oci` feature:
//! options that need it (`pin`, `pull`, every format but [`Format::Sbom`]) are refused
//! without it with [`Error::NeedsFeature`].

use std::path::{Path, PathBuf};

pub use stackwright_staging::Staging;

use crate::progress::Progress;
use crate::{Assembled, Error};

/// An output beyond the text outputs (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `<name>.tar`: the whole root filesystem.
    Tar,
    /// `<name>-kernel`, `<name>-initrd.img`, `<name>-cmdline`.
    KernelInitrd,
    /// `<name>.spdx.json` (SPDX 2.3) and `<name>.cdx.json` (CycloneDX 1.6); no images needed.
    Sbom,
    /// A raw disk, MBR, GRUB for BIOS.
    RawBios,
    /// A raw disk, GPT, GRUB for UEFI.
    RawEfi,
    /// [`Format::RawBios`] converted to qcow2.
    Qcow2Bios,
    /// [`Format::RawEfi`] converted to qcow2.
    Qcow2Efi,
    /// A hybrid ISO 9660 image booting with BIOS.
    IsoBios,
    /// A hybrid ISO 9660 image booting with UEFI.
    IsoEfi,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 9] = [
        Format::Tar,
        Format::KernelInitrd,
        Format::Sbom,
        Format::RawBios,
        Format::RawEfi,
        Format::Qcow2Bios,
        Format::Qcow2Efi,
        Format::IsoBios,
        Format::IsoEfi,
    ];

    /// The name `--format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::KernelInitrd => "kernel+initrd",
            Format::Sbom => "sbom",
            Format::RawBios => "raw-bios",
            Format::RawEfi => "raw-efi",
            Format::Qcow2Bios => "qcow2-bios",
            Format::Qcow2Efi => "qcow2-efi",
            Format::IsoBios => "iso-bios",
            Format::IsoEfi => "iso-efi",
        }
    }

    /// Whether the format is built from the platform's images (all but SBOMs).
    pub fn needs_images(self) -> bool {
        self != Format::Sbom
    }

    /// Whether `--disk-size` sizes it (raw and qcow2 disks; ISO images are as large as
    /// their content).
    pub fn is_sized_disk(self) -> bool {
        matches!(
            self,
            Format::RawBios | Format::RawEfi | Format::Qcow2Bios | Format::Qcow2Efi
        )
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    /// An unknown name is a usage error (exit code 2) listing the known ones.
    fn from_str(s: &str) -> Result<Format, Error> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(vec![stackwright_types::Diagnostic::error(
                    stackwright_types::diagnostic::INVALID_VALUE,
                    format!("unknown --format `{s}`"),
                )
                .hint(format!(
                    "use {}, or several: --format tar,sbom",
                    Format::ALL.map(Format::as_str).join(", ")
                ))])
            })
    }
}

/// Parses `--format` names (see [`Format`]'s `FromStr`).
pub fn parse_formats<S: AsRef<str>>(names: &[S]) -> Result<Vec<Format>, Error> {
    names.iter().map(|n| n.as_ref().parse()).collect()
}

/// What [`write()`] does beyond the text outputs.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Resolve every image tag to its digest against its registry (needs `oci`).
    pub pin: bool,
    /// Fetch every image into `<out>/images`, an OCI image layout (needs `oci`).
    pub pull: bool,
    /// Extra outputs; all but [`Format::Sbom`] need `oci` (they are built from the images).
    pub formats: Vec<Format>,
    /// The size of raw and qcow2 disk images in bytes (`--disk-size`).
    pub disk_size: Option<u64>,
    /// The blob cache (default: `$XDG_CACHE_HOME/stackwright` or `~/.cache/stackwright`).
    pub cache: Option<PathBuf>,
    /// Registries (`HOST:PORT`) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Ignore the lock's digests: pin afresh.
    pub update: bool,
    /// Use only the cache: no registry is asked, no release file downloaded; whatever
    /// is missing is named in one error (exit 3).
    pub offline: bool,
    /// `--push-packages REGISTRY/PREFIX`: push every image Stackwright builds (packaged
    /// components, stackwright-init) to `REGISTRY/PREFIX/<id>:<tag>` (same credentials,
    /// `insecure` and retries as pulls) and name them there, pinned by digest, in
    /// linuxkit.yml and the lock.
    pub push_packages: Option<String>,
}

impl WriteOptions {
    /// Whether registries (or the cache behind them) are involved: pinning, pulling, or a
    /// format built from images.
    pub fn needs_registry(&self) -> bool {
        self.pin
            || self.pull
            || self.formats.iter().any(|f| f.needs_images())
            || self.push_packages.is_some()
    }

    /// Refuses what cannot be done before any work is done: `--disk-size` without a raw
    /// or qcow2 format to size, `--offline` with `--pin` (usage errors, exit 2), and, in a
    /// build without the `oci` feature, anything that needs registries
    /// ([`Error::NeedsFeature`]).
    pub fn check(&self) -> Result<(), Error> {
        check_disk_size(&self.formats, self.disk_size)?;
        if let Some(prefix) = &self.push_packages {
            check_push_prefix(prefix, "stackwright-init:0")?;
        }
        if self.offline && self.pin {
            return Err(Error::Usage(vec![stackwright_types::Diagnostic::error(
                stackwright_types::diagnostic::INVALID_VALUE,
                "--offline cannot be combined with --pin (pinning asks the registries)",
            )
            .hint(
                "drop --pin: --offline --pull/--format use the lock's digests and the cache",
            )]));
        }
        if !cfg!(feature = "oci") && self.needs_registry() {
            let what = if self.pin {
                "pinning images (--pin)".to_string()
            } else if self.push_packages.is_some() {
                "pushing built images (--push-packages)".to_string()
            } else if self.pull {
                "pulling images (--pull)".to_string()
            } else {
                let f = self.formats.iter().find(|f| f.needs_images());
                format!("--format {}", f.map(|f| f.as_str()).unwrap_or_default())
            };
            return Err(Error::NeedsFeature {
                feature: "oci",
                what,
            });
        }
        Ok(())
    }
}

/// `PREFIX/<path>` for `--push-packages PREFIX`, refused as a usage error (exit 2) when it
/// is no image reference.
pub fn check_push_prefix(prefix: &str, path: &str) -> Result<String, Error> {
    let target = format!("{}/{path}", prefix.trim_end_matches('/'));
    match stackwright_types::reference::ImageRef::parse(&target) {
        Ok(_) => Ok(target),
        Err(e) => Err(Error::Usage(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            format!("--push-packages {prefix}: `{target}` is not an image reference: {e}"),
        )
        .hint("give a registry and a repository prefix: --push-packages HOST[:PORT]/PREFIX, e.g. registry.example.com/platform")])),
    }
}

/// Refuses `--disk-size` without a raw or qcow2 format to size (ISO images are as large
/// as their content), as a usage error.
pub fn check_disk_size(formats: &[Format], disk_size: Option<u64>) -> Result<(), Error> {
    if disk_size.is_some() && !formats.iter().any(|f| f.is_sized_disk()) {
        return Err(Error::Usage(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            "--disk-size sizes raw and qcow2 disk images, and none is asked for",
        )
        .hint(
            "add --format raw-bios (or raw-efi, qcow2-bios, qcow2-efi), or drop --disk-size",
        )]));
    }
    Ok(())
}

/// Writes the platform's outputs into `out` atomically. Returns the directory written.
///
/// Runs on the caller's runtime (registry work awaits the network; building root
/// filesystems and images runs on the calling task). From synchronous code, call
/// [`write_blocking`].
pub async fn write(
    assembled: &mut Assembled,
    out: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<PathBuf, Error> {
    if let Some(b) = assembled.loaded.assembly.base.as_ref().filter(|b| b.value) {
        return Err(Error::Invalid(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            format!(
                "assembly `{}` is a base (`base = true`): it is checked, never rendered",
                assembled.loaded.name
            ),
        )
        .at(b.location.clone())
        .hint(
            "assemble an assembly that extends it, or remove `base = true`",
        )]));
    }
    opts.check()?;
    let io = |context: String| move |source| Error::Io { context, source };
    let staging = Staging::begin(out).map_err(io(format!(
        "creating a staging directory for {}",
        out.display()
    )))?;
    // SBOMs need no images: only the other formats send us to the registries.
    let sbom = opts.formats.contains(&Format::Sbom);
    if opts.needs_registry() {
        let mut opts = opts.clone();
        opts.formats.retain(|f| f.needs_images());
        registry_work(assembled, staging.path(), &opts, progress).await?;
    }
    let mut outputs = assembled.outputs()?;
    if sbom {
        outputs.extend(assembled.sboms(&sbom_time()?)?);
    }
    for (name, bytes) in outputs {
        staging
            .write(&name, &bytes)
            .map_err(io(format!("writing {name}")))?;
    }
    staging
        .commit()
        .map_err(io(format!("moving the output into {}", out.display())))
}

/// [`write()`] for synchronous callers: runs it on a runtime of its own, on this thread.
/// Called from inside an async runtime it refuses ([`Error::BlockingInRuntime`]) rather
/// than panic; call [`write()`] there.
pub fn write_blocking(
    assembled: &mut Assembled,
    out: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<PathBuf, Error> {
    crate::blocking::run(
        "output::write_blocking",
        "output::write",
        write(assembled, out, opts, progress),
    )?
}

#[cfg(not(feature = "oci"))]
async fn registry_work(
    _: &mut Assembled,
    _: &Path,
    opts: &WriteOptions,
    _: &dyn Progress,
) -> Result<(), Error> {
    // `WriteOptions::check` refused this already; kept so the two builds agree.
    opts.check()
}

#[cfg(feature = "oci")]
async fn registry_work(
    assembled: &mut Assembled,
    staging: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<(), Error> {
    use stackwright_oci::{Credentials, PullRequest, RegistryClient, RegistryOptions};
    let oci_err = Error::Oci;
    let progress = &crate::progress::Forward(progress);
    let credentials = Credentials::from_default_location().map_err(oci_err)?;
    let registry = RegistryClient::new(RegistryOptions {
        credentials,
        insecure: opts.insecure.clone(),
        offline: opts.offline,
        ..Default::default()
    });
    let images = assembled.images();
    build_local_images(assembled, &images, opts)?;
    let pull = opts.pull || !opts.formats.is_empty();
    if pull || opts.push_packages.is_some() {
        // Packaged components: their release files fetched (or found in the cache), their
        // images built into the cache, the digests recorded before the pull below.
        let cache = cache(opts)?;
        build_packaged_images(assembled, &registry, &cache, progress).await?;
    }
    if let Some(prefix) = &opts.push_packages {
        let cache = cache(opts)?;
        push_built_images(assembled, &images, prefix, &registry, &cache, progress).await?;
    }
    // Pushed images are named where they were pushed from here on.
    let images = assembled.images();
    if opts.pin {
        let known = if opts.update {
            Default::default()
        } else {
            assembled.digests.clone()
        };
        // Images Stackwright builds have no registry to ask: their digests come from
        // the build (or the lock).
        let remote: Vec<&String> = images
            .iter()
            .filter(|i| !stackwright_types::package::is_local_image_ref(i))
            .collect();
        let pinned = registry
            .pin(&remote, &known, progress)
            .await
            .map_err(oci_err)?;
        assembled
            .digests
            .retain(|i, _| stackwright_types::package::is_local_image_ref(i));
        assembled
            .digests
            .extend(pinned.into_iter().map(|p| (p.reference, p.digest)));
    }
    if pull {
        let cache = cache(opts)?;
        let requests: Vec<PullRequest> = images
            .iter()
            .map(|i| match assembled.digests.get(i) {
                Some(d) => PullRequest::with_digest(i.clone(), d.clone()),
                None => PullRequest::new(i.clone()),
            })
            .collect();
        let layout = staging.join("images");
        let report = registry
            .pull_into(
                &requests,
                assembled.loaded.arch.as_str(),
                &cache,
                &layout,
                progress,
            )
            .await
            .map_err(oci_err)?;
        // What the images' publishers attested about them, for the SPDX SBOM.
        assembled.image_sboms = report
            .images
            .into_iter()
            .filter(|i| !i.sboms.is_empty())
            .map(|i| (i.reference, i.sboms))
            .collect();
        if !opts.formats.is_empty() {
            build_formats(
                assembled,
                staging,
                &layout,
                &opts.formats,
                opts.disk_size,
                progress,
            )?;
        }
    }
    Ok(())
}

/// `--push-packages`: pushes every built image (`stackwright.local/<id>:<tag>`, its
/// digest recorded by the build) to `PREFIX/<id>:<tag>`, and records the pushed name
/// (`Assembled::published`) and its digest, so linuxkit.yml and the lock name it there.
/// Once every built image is pushed, warning SW0515 (no registry serves them) is dropped.
#[cfg(feature = "oci")]
async fn push_built_images(
    assembled: &mut Assembled,
    images: &[String],
    prefix: &str,
    registry: &stackwright_oci::RegistryClient,
    cache: &stackwright_oci::Cache,
    progress: &dyn stackwright_oci::Progress,
) -> Result<(), Error> {
    use stackwright_types::package::{is_local_image_ref, LOCAL_REGISTRY};
    for local in images.iter().filter(|i| is_local_image_ref(i)) {
        let Some(digest) = assembled.digests.get(local).cloned() else {
            continue;
        };
        let path = local
            .strip_prefix(LOCAL_REGISTRY)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(local);
        let target = check_push_prefix(prefix, path)?;
        registry
            .push_image(&target, cache, &digest, progress)
            .await
            .map_err(Error::Oci)?;
        assembled.digests.insert(target.clone(), digest);
        assembled.published.insert(local.clone(), target);
    }
    if assembled.images().iter().all(|i| !is_local_image_ref(i)) {
        assembled
            .validated
            .diagnostics
            .retain(|d| d.code != stackwright_types::diagnostic::LOCAL_IMAGE);
    }
    Ok(())
}

/// The cache every pull and build goes through.
#[cfg(feature = "oci")]
fn cache(opts: &WriteOptions) -> Result<stackwright_oci::Cache, Error> {
    let dir = opts
        .cache
        .clone()
        .or_else(stackwright_oci::Cache::default_dir)
        .ok_or_else(|| {
            Error::Invalid(vec![stackwright_types::Diagnostic::error(
                stackwright_types::diagnostic::INVALID_VALUE,
                "no cache directory: neither XDG_CACHE_HOME nor HOME is set",
            )
            .hint("pass --cache DIR")])
        })?;
    Ok(stackwright_oci::Cache::new(dir))
}

/// Images Stackwright makes itself from what this binary carries (no release files, no
/// network): `stackwright.local/stackwright-init:<version>`, the static init embedded by
/// `stackwright-build`. Built into the cache, their digests recorded, so pinning and
/// pulling find them there.
#[cfg(feature = "oci")]
fn build_local_images(
    assembled: &mut Assembled,
    images: &[String],
    opts: &WriteOptions,
) -> Result<(), Error> {
    let prefix = format!(
        "{}/stackwright-init:",
        stackwright_types::package::LOCAL_REGISTRY
    );
    let wanted: Vec<&String> = images.iter().filter(|i| i.starts_with(&prefix)).collect();
    if wanted.is_empty() || !opts.needs_registry() {
        return Ok(());
    }
    let cache = cache(opts)?;
    for image in wanted {
        let built = init_image(assembled.loaded.arch.as_str(), &cache)?;
        assembled
            .digests
            .insert(image.clone(), built.manifest.digest.clone());
    }
    Ok(())
}

/// One packaged component: its id, release and files for the arch, and its local reference.
#[cfg(feature = "oci")]
struct Packaged<'a> {
    id: &'a str,
    version: String,
    image: String,
    files: Vec<&'a stackwright_types::package::ReleaseFile>,
    package: &'a stackwright_types::package::Package,
}

/// The components Stackwright packages from release files (no image, files for the arch),
/// sorted by id.
#[cfg(feature = "oci")]
fn packaged_components(assembled: &Assembled) -> Vec<Packaged<'_>> {
    let arch = assembled.loaded.arch;
    assembled
        .resolution
        .components
        .iter()
        .filter_map(|(id, chosen)| {
            let m = assembled.registry.manifest(id)?;
            let release = m.release(&chosen.version)?;
            let req = assembled.loaded.assembly.components.get(id);
            if !stackwright_assembly::packaged(req, release, arch) {
                return None;
            }
            Some(Packaged {
                id: id.as_str(),
                version: release.version.to_string(),
                image: stackwright_assembly::component_image(id, req, release, arch)?,
                files: release.files.iter().filter(|f| f.arch == arch).collect(),
                package: &m.package,
            })
        })
        .collect()
}

/// Fetches the release files of every packaged component (bounded concurrency, verified,
/// cached by sha256; `--offline`: the cache only), builds each image with
/// `stackwright-package` into the cache as soon as its files are in (an image an earlier
/// run built from the same inputs is reused, and its files are not fetched), and records its digest in `assembled.digests`
/// (so the lock and `linuxkit.yml` pin it). A file without a sha256 (a release marked
/// `verified = false`) is refused: nothing unverified is ever downloaded.
#[cfg(feature = "oci")]
async fn build_packaged_images(
    assembled: &mut Assembled,
    registry: &stackwright_oci::RegistryClient,
    cache: &stackwright_oci::Cache,
    progress: &dyn stackwright_oci::Progress,
) -> Result<(), Error> {
    use stackwright_types::diagnostic::{self, Diagnostic};
    let arch = assembled.loaded.arch.as_str().to_string();
    let packaged = packaged_components(assembled);
    if packaged.is_empty() {
        return Ok(());
    }
    let mut refused = Vec::new();
    let mut requests = Vec::new();
    for p in &packaged {
        let owner = format!("{} {} ({arch})", p.id, p.version);
        for f in &p.files {
            match &f.sha256 {
                Some(sha) => requests.push(stackwright_oci::FileRequest {
                    owner: owner.clone(),
                    url: f.url.clone(),
                    digest: sha.digest(),
                }),
                None => {
                    let why = assembled
                        .registry
                        .manifest(p.id)
                        .map(|m| m.unverified.join("; "))
                        .filter(|w| !w.is_empty())
                        .unwrap_or_else(|| "no upstream checksum".into());
                    refused.push(
                        Diagnostic::error(
                            diagnostic::INVALID_VALUE,
                            format!(
                                "{owner}: `{}` has no sha256 (the release is unverified: {why}); Stackwright never downloads an unverified file",
                                f.url
                            ),
                        )
                        .at(f.location.clone())
                        .hint(format!(
                            "supply the checksum: copy the component's manifest into a --component-dir with `override = true` and add `sha256 = \"…\"` and `checksum_source` to this file; or give `{}` an image: [components.{}] image = \"…\"",
                            p.id, p.id
                        )),
                    );
                }
            }
        }
    }
    if !refused.is_empty() {
        return Err(Error::Invalid(refused));
    }
    let mtime = crate::source_date_epoch()?.unwrap_or(0);
    // Each image is built as soon as its last file is in the cache, one build per core at
    // a time, while the other files still download.
    let recipes = packaged
        .iter()
        .map(|p| stackwright_package::Recipe {
            arch: arch.clone(),
            mtime,
            title: p.id.to_string(),
            version: p.version.clone(),
            files: p.files.iter().map(|f| (*f).clone()).collect(),
            package: p.package.clone(),
            limits: stackwright_package::ExtractLimits::default(),
        })
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let queue = stackwright_package::BuildQueue::start(recipes, cache, workers);
    // Only the files of images to build: a rerun that reuses every image fetches nothing.
    requests.retain(|r| queue.waits_for(&r.digest));
    let fetched = if requests.is_empty() {
        Ok(Default::default())
    } else {
        registry
            .fetch_files_with(&requests, cache, progress, &|f| queue.file_ready(&f.digest))
            .await
    };
    if let Err(e) = fetched {
        queue.cancel();
        return Err(download_error(e));
    }
    // Every image is built whole even when another fails, so the first error in
    // `packaged`'s order is the one reported, on every run.
    let mut built = Vec::new();
    for (p, result) in packaged.iter().zip(queue.finish()) {
        let (image, made) = result.map_err(|e| package_error(p, e))?;
        progress.image_built(
            &p.image,
            &image.manifest.digest,
            made == stackwright_package::Made::Reused,
        );
        built.push((p.image.clone(), image.manifest.digest));
    }
    assembled.digests.extend(built);
    Ok(())
}

/// A failed release-file fetch as an error with what to do about it.
#[cfg(feature = "oci")]
fn download_error(e: stackwright_oci::OciError) -> Error {
    use stackwright_oci::OciError;
    let hint = match &e {
        OciError::FileChecksum { .. } => {
            "the file served is not the one the manifest's sha256 names (nothing was kept): check the URL and the checksum's source before changing the sha256"
        }
        OciError::FileDownload { status: Some(404 | 410), .. } => {
            "the URL is wrong or upstream removed the file: fix `url` in the component's [[release.files]]"
        }
        OciError::FileDownload { transient: false, status: None, .. } => {
            "the host cannot be reached from here (DNS or connection refused): check the network (HTTPS_PROXY and NO_PROXY are honoured), or fill the cache where it is reachable and use it here with --cache DIR --offline"
        }
        OciError::Offline { .. } => {
            "run once without --offline where the URLs are reachable to fill the cache, or pass --cache DIR with a filled cache"
        }
        _ => "check the network and the URL; a rerun continues an interrupted download",
    };
    Error::Download {
        message: e.to_string(),
        hint: hint.to_string(),
    }
}

/// A failed image build of a packaged component as the facade's error.
#[cfg(feature = "oci")]
fn package_error(p: &Packaged<'_>, e: stackwright_package::PackageError) -> Error {
    use stackwright_package::PackageError;
    match e {
        PackageError::Io { path, source } => Error::Io {
            context: format!(
                "{} {}: building its image: {}",
                p.id,
                p.version,
                path.display()
            ),
            source,
        },
        PackageError::Cache(e) => Error::Oci(e),
        other => Error::Invalid(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            format!("{} {}: building its image: {other}", p.id, p.version),
        )
        .at(p.files[0].location.clone())
        .hint("the manifest's [[release.files]] or [package] do not match what upstream ships: fix the extract rules or paths")]),
    }
}

/// The `stackwright-init` component's image: the static init at `/sbin/stackwright-init`,
/// `/init` (what the kernel runs from an initramfs) and `/sbin/init` pointing at it.
#[cfg(feature = "oci")]
pub fn init_image(
    arch: &str,
    cache: &stackwright_oci::Cache,
) -> Result<stackwright_package::BuiltImage, Error> {
    let invalid = |m: String, hint: &str| {
        Error::Invalid(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            m,
        )
        .hint(hint.to_string())])
    };
    if arch != "amd64" {
        return Err(invalid(
            format!("stackwright-init is built for amd64 only, not {arch}"),
            "use linuxkit-init on other architectures",
        ));
    }
    let bin = stackwright_build::init_binary().map_err(|why| {
        invalid(
            format!("this stackwright binary carries no stackwright-init: {why}"),
            "rebuild stackwright on x86_64 with a static libc (libc6-dev), or set STACKWRIGHT_INIT_PREBUILT=<static binary> when building it",
        )
    })?;
    stackwright_package::LocalImage::builder(arch)
        .mtime(crate::source_date_epoch()?.unwrap_or(0))
        .file("sbin/stackwright-init", 0o755, bin.to_vec())
        .symlink("init", "sbin/stackwright-init")
        .symlink("sbin/init", "stackwright-init")
        .dir("etc/stackwright", 0o755)
        .dir("var/log", 0o755)
        .entrypoint(["/sbin/stackwright-init"])
        .label("org.opencontainers.image.title", "stackwright-init")
        .build(cache)
        .map_err(|e| invalid(e.to_string(), "report this: building a local image failed"))
}

#[cfg(feature = "oci")]
fn build_formats(
    assembled: &Assembled,
    staging: &Path,
    layout: &Path,
    formats: &[Format],
    disk_size: Option<u64>,
    progress: &crate::progress::Forward<'_>,
) -> Result<(), Error> {
    let formats = formats
        .iter()
        .map(|f| f.as_str().parse::<stackwright_build::Format>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Invalid(vec![stackwright_types::Diagnostic::error(
                stackwright_types::diagnostic::INVALID_VALUE,
                e.to_string(),
            )])
        })?;
    let config = stackwright_render::linuxkit_config(&assembled.platform());
    let mut opts = stackwright_build::BuildOptions::new(
        assembled.loaded.name.clone(),
        staging.to_path_buf(),
        formats,
    );
    opts.files_base = assembled.loaded.base_dir.clone();
    opts.arch = assembled.loaded.arch.as_str().to_string();
    // The tree carries the platform's SPDX document as `linuxkit build` carries its own.
    opts.sbom = Some(assembled.spdx(&sbom_time()?)?.into_bytes());
    opts.mtime = crate::source_date_epoch()?.unwrap_or(0);
    opts.disk_size = disk_size;
    opts.initrd = assembled
        .loaded
        .assembly
        .initrd
        .as_ref()
        .map_or_else(Default::default, |c| c.value);
    stackwright_build::build_with_progress(&config, layout, &opts, progress)
        .map_err(build_error)?;
    Ok(())
}

/// A build failure with what to do about it; [`Error::exit_code`] tells the machine's
/// failures (exit 3) from the platform's (exit 1).
#[cfg(feature = "oci")]
fn build_error(e: stackwright_build::BuildError) -> Error {
    use stackwright_build::DiskError;
    let hint = match &e {
        stackwright_build::BuildError::Disk { source, .. } => match source {
            DiskError::Missing { package, .. } => {
                Some(format!("install it: apt-get install -y {package}"))
            }
            DiskError::TooSmall { needed, .. } => Some(format!(
                "ask for at least {} MiB: --disk-size {}M",
                needed.div_ceil(1 << 20),
                needed.div_ceil(1 << 20)
            )),
            DiskError::Cmdline(_) => Some(
                "write the [kernel] cmdline without quotes or backslashes for disk images"
                    .to_string(),
            ),
            _ => None,
        },
        _ => None,
    };
    Error::Build {
        source: Box::new(e),
        hint,
    }
}

/// A short listing of what a written output directory holds.
pub fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(", ")
}

/// The SBOMs' creation time: [`crate::source_date_epoch`] as RFC 3339 UTC, or the epoch
/// itself when unset, so the same platform gives the same bytes.
pub fn sbom_time() -> Result<String, Error> {
    Ok(stackwright_types::time::rfc3339(
        crate::source_date_epoch()?.unwrap_or(0),
    ))
}
