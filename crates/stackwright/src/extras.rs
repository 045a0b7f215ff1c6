//! Writing an assembled platform: the text outputs always, plus what `--pin`, `--pull`
//! and `--format` add — all into one staging directory swapped into place at the end, so a
//! failure anywhere (a registry error, a digest mismatch, Ctrl-C) leaves the previous
//! output as it was.

use std::path::{Path, PathBuf};

use crate::output::Staging;
use crate::{Assembled, Error};

/// What to do beyond the text outputs.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    pub pin: bool,
    pub pull: bool,
    /// `tar`, `kernel+initrd`, `sbom`, and the disk images (`raw-bios`, `raw-efi`,
    /// `qcow2-bios`, `qcow2-efi`, `iso-bios`, `iso-efi`).
    pub formats: Vec<String>,
    /// The size of raw and qcow2 disk images in bytes (`--disk-size`).
    pub disk_size: Option<u64>,
    pub cache: Option<PathBuf>,
    pub insecure: Vec<String>,
    pub update: bool,
    /// Use only the cache: no registry is asked, no release file downloaded; whatever
    /// is missing is named in one error (exit 3).
    pub offline: bool,
}

/// Progress of registry work, implemented by the CLI (terminal) or a library user.
#[cfg(feature = "oci")]
pub use stackwright_oci::Progress;

/// The extra output formats `write` knows (`--format`).
pub const FORMATS: &[&str] = &[
    "tar",
    "kernel+initrd",
    "sbom",
    "raw-bios",
    "raw-efi",
    "qcow2-bios",
    "qcow2-efi",
    "iso-bios",
    "iso-efi",
];

/// Refuses an unknown format as a usage error (exit code 2), before any work is done.
pub fn check_formats(formats: &[String]) -> Result<(), Error> {
    for f in formats {
        if !FORMATS.contains(&f.as_str()) {
            return Err(Error::Usage(vec![stackwright_types::Diagnostic::error(
                stackwright_types::diagnostic::INVALID_VALUE,
                format!("unknown --format `{f}`"),
            )
            .hint(format!(
                "use {}, or several: --format tar,sbom",
                FORMATS.join(", ")
            ))]));
        }
    }
    Ok(())
}

/// Refuses `--disk-size` without a raw or qcow2 format to size (ISO images are as large
/// as their content), as a usage error.
pub fn check_disk_size(formats: &[String], disk_size: Option<u64>) -> Result<(), Error> {
    let sized = formats
        .iter()
        .any(|f| f.starts_with("raw-") || f.starts_with("qcow2-"));
    if disk_size.is_some() && !sized {
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
pub fn write(
    assembled: &mut Assembled,
    out: &Path,
    extras: &Extras,
    #[cfg(feature = "oci")] progress: &dyn stackwright_oci::Progress,
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
    check_formats(&extras.formats)?;
    check_disk_size(&extras.formats, extras.disk_size)?;
    let io = |context: String| move |source| Error::Io { context, source };
    let staging = Staging::begin(out).map_err(io(format!(
        "creating a staging directory for {}",
        out.display()
    )))?;
    // SBOMs need no images: only the other formats send us to the registries.
    let sbom = extras.formats.iter().any(|f| f == "sbom");
    let mut extras = extras.clone();
    extras.formats.retain(|f| f != "sbom");
    let extras = &extras;
    if extras.pin || extras.pull || !extras.formats.is_empty() {
        registry_work(
            assembled,
            staging.path(),
            extras,
            #[cfg(feature = "oci")]
            progress,
        )?;
    }
    let mut outputs = assembled.outputs()?;
    if sbom {
        outputs.extend(assembled.sboms(&sbom_time()?));
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

#[cfg(not(feature = "oci"))]
fn registry_work(_: &mut Assembled, _: &Path, _: &Extras) -> Result<(), Error> {
    Err(Error::Invalid(vec![stackwright_types::Diagnostic::error(
        stackwright_types::diagnostic::INVALID_VALUE,
        "--pin, --pull and --format need registry support: build stackwright with the `oci` feature",
    )]))
}

#[cfg(feature = "oci")]
fn registry_work(
    assembled: &mut Assembled,
    staging: &Path,
    extras: &Extras,
    progress: &dyn stackwright_oci::Progress,
) -> Result<(), Error> {
    use stackwright_oci::{Credentials, PullRequest, Registry, RegistryOptions};
    let reg_err = |e: stackwright_oci::OciError| Error::Registry(e.to_string());
    let credentials = Credentials::from_default_location().map_err(reg_err)?;
    let registry = Registry::new(RegistryOptions {
        credentials,
        insecure: extras.insecure.clone(),
        offline: extras.offline,
        ..Default::default()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime".into(),
            source,
        })?;
    let images = assembled.images();
    build_local_images(assembled, &images, extras)?;
    if extras.pull || !extras.formats.is_empty() {
        // Packaged components: their release files fetched (or found in the cache), their
        // images built into the cache, the digests recorded before the pull below.
        let cache = cache(extras)?;
        build_packaged_images(assembled, &registry, &rt, &cache, progress)?;
    }
    if extras.pin || !extras.formats.is_empty() || extras.pull {
        let known = if extras.update {
            Default::default()
        } else {
            assembled.digests.clone()
        };
        if extras.pin {
            // Images Stackwright builds have no registry to ask: their digests come from
            // the build (or the lock).
            let remote: Vec<&String> = images
                .iter()
                .filter(|i| !stackwright_types::package::is_local_image_ref(i))
                .collect();
            let pinned = rt
                .block_on(registry.pin(&remote, &known, progress))
                .map_err(reg_err)?;
            assembled
                .digests
                .retain(|i, _| stackwright_types::package::is_local_image_ref(i));
            assembled
                .digests
                .extend(pinned.into_iter().map(|p| (p.reference, p.digest)));
        }
    }
    if extras.pull || !extras.formats.is_empty() {
        let cache = cache(extras)?;
        let requests: Vec<PullRequest> = images
            .iter()
            .map(|i| match assembled.digests.get(i) {
                Some(d) => PullRequest::with_digest(i.clone(), d.clone()),
                None => PullRequest::new(i.clone()),
            })
            .collect();
        let layout = staging.join("images");
        rt.block_on(registry.pull_into(
            &requests,
            assembled.loaded.arch.as_str(),
            &cache,
            &layout,
            progress,
        ))
        .map_err(reg_err)?;
        if !extras.formats.is_empty() {
            build_formats(
                assembled,
                staging,
                &layout,
                &extras.formats,
                extras.disk_size,
            )?;
        }
    }
    Ok(())
}

/// The cache every pull and build goes through.
#[cfg(feature = "oci")]
fn cache(extras: &Extras) -> Result<stackwright_oci::Cache, Error> {
    let dir = extras
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
    extras: &Extras,
) -> Result<(), Error> {
    let prefix = format!(
        "{}/stackwright-init:",
        stackwright_types::package::LOCAL_REGISTRY
    );
    let wanted: Vec<&String> = images.iter().filter(|i| i.starts_with(&prefix)).collect();
    if wanted.is_empty() || !(extras.pin || extras.pull || !extras.formats.is_empty()) {
        return Ok(());
    }
    let cache = cache(extras)?;
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
/// `stackwright-package` into the cache, and records its digest in `assembled.digests`
/// (so the lock and `linuxkit.yml` pin it). A file without a sha256 (a release marked
/// `verified = false`) is refused: nothing unverified is ever downloaded.
#[cfg(feature = "oci")]
fn build_packaged_images(
    assembled: &mut Assembled,
    registry: &stackwright_oci::Registry,
    rt: &tokio::runtime::Runtime,
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
    rt.block_on(registry.fetch_files(&requests, cache, progress))
        .map_err(download_error)?;
    let mtime = crate::source_date_epoch()?.unwrap_or(0);
    let mut built = Vec::new();
    for p in &packaged {
        let (image, made) = package_image(p, &arch, mtime, cache)?;
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

/// Builds one packaged component's image from its (cached) release files and `[package]`,
/// or reuses the one an earlier run built from the same inputs (`Recipe::build_or_reuse`).
#[cfg(feature = "oci")]
fn package_image(
    p: &Packaged<'_>,
    arch: &str,
    mtime: u64,
    cache: &stackwright_oci::Cache,
) -> Result<(stackwright_package::BuiltImage, stackwright_package::Made), Error> {
    use stackwright_package::{ExtractLimits, PackageError, Recipe};
    let recipe = Recipe {
        arch,
        mtime,
        title: p.id,
        version: &p.version,
        files: p.files.clone(),
        package: p.package,
        limits: ExtractLimits::default(),
    };
    recipe.build_or_reuse(cache).map_err(|e| match e {
        PackageError::Io { .. } | PackageError::Cache(_) => {
            Error::Registry(format!("{} {}: building its image: {e}", p.id, p.version))
        }
        other => Error::Invalid(vec![stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::INVALID_VALUE,
            format!("{} {}: building its image: {other}", p.id, p.version),
        )
        .at(p.files[0].location.clone())
        .hint("the manifest's [[release.files]] or [package] do not match what upstream ships: fix the extract rules or paths")]),
    })
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
    formats: &[String],
    disk_size: Option<u64>,
) -> Result<(), Error> {
    let formats = formats
        .iter()
        .map(|f| f.parse::<stackwright_build::Format>())
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
    opts.sbom =
        Some(stackwright_render::sbom_spdx(&assembled.platform(), &sbom_time()?).into_bytes());
    opts.mtime = crate::source_date_epoch()?.unwrap_or(0);
    opts.disk_size = disk_size;
    stackwright_build::build(&config, layout, &opts).map_err(|e| {
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
        let d = stackwright_types::Diagnostic::error(
            stackwright_types::diagnostic::IO_ERROR,
            format!("building the root filesystem: {e}"),
        );
        Error::Invalid(vec![match hint {
            Some(h) => d.hint(h),
            None => d,
        }])
    })?;
    Ok(())
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
