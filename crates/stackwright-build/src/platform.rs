//! The LinuxKit layout of a platform's root filesystem, built from a
//! [`Config`] and an OCI image layout:
//!
//! - `boot/kernel` (the kernel image's `kernel`, or `binary`), `boot/cmdline`,
//!   `boot/ucode.cpio` when asked, and the kernel image's `kernel.tar` (modules)
//!   unpacked into `/`;
//! - the `init` images flattened into `/`, in order (with LinuxKit's `resolv.conf`
//!   symlink to `/run/resolvconf/resolv.conf`);
//! - `containers/onboot/NNN-<name>/`, `containers/onshutdown/NNN-<name>/` and
//!   `containers/services/<name>/`, each with `config.json` (OCI runtime spec, see
//!   [`crate::spec`]), `runtime.json` (LinuxKit's init reads it) and `rootfs/`;
//! - then the `files` entries.
//!
//! Image root filesystems get LinuxKit's touch-ups: `.dockerenv`, `Dockerfile`,
//! `dev/console`, `etc/hostname` dropped; `etc/hosts` and `etc/resolv.conf` replaced;
//! `dev`, `dev/pts`, `dev/shm`, `proc`, `sys`, `etc/mtab` created when missing.
//!
//! Where this differs from `linuxkit build`, on purpose:
//! - `rootfs/` always holds the image, also for writable containers (LinuxKit puts it
//!   in `lower/` and overlays a tmpfs at boot): the bundle runs with plain `runc`.
//! - a `files` entry creates only missing leading directories (LinuxKit re-emits
//!   existing ones with the entry's mode, which can turn `/etc` into 0700).
//! - init images' APK databases are not merged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use stackwright_types::container::IdOrName;
use stackwright_types::linuxkit::{Config, File as FileEntry, Image, Kernel};

use crate::error::{BuildError, Origin};
use crate::layer::{apply_blob, Budget, Ctx, Note};
use crate::progress::BuildProgress;
use crate::source_layout::{ImageSource, SourceLayout};
use crate::spec::{bundle_config, pretty, IdResolver};
use crate::tree::{Content, Node, NodeKind, Spool, Tree};
use crate::{BuildOptions, Limits, Policy};

const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
const RESOLV: &str = "\n# no resolv.conf configured\n";
const RESOLV_SYMLINK: &str = "/run/resolvconf/resolv.conf";

/// The container sections in build order, and whether their directories are numbered.
fn container_sections(config: &Config) -> [(&'static str, &Vec<Image>, bool); 3] {
    [
        ("onboot", &config.onboot, true),
        ("onshutdown", &config.onshutdown, true),
        ("services", &config.services, false),
    ]
}

/// A container's directory in the tree (`containers/onboot/000-<name>`,
/// `containers/services/<name>`), as LinuxKit names them.
fn container_dir(section: &str, numbered: bool, index: usize, name: &str) -> String {
    if numbered {
        format!("containers/{section}/{index:03}-{name}")
    } else {
        format!("containers/{section}/{name}")
    }
}

/// Where each image of `config` lands in the built tree, as `(image reference as written,
/// directory)`: the kernel and `init` images at the root (`""`), each container's image
/// in its `rootfs/`. An image used twice is listed twice. SBOM merging prefixes an image's
/// file names with this, as LinuxKit does.
pub fn image_places(config: &Config) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Some(image) = config.kernel.as_ref().and_then(|k| k.image.clone()) {
        v.push((image, String::new()));
    }
    v.extend(config.init.iter().map(|i| (i.clone(), String::new())));
    for (section, images, numbered) in container_sections(config) {
        for (i, img) in images.iter().enumerate() {
            v.push((
                img.image.clone(),
                format!("{}/rootfs", container_dir(section, numbered, i, &img.name)),
            ));
        }
    }
    v
}

/// What unpacking images needs besides the image: the layout their blobs are in, the
/// spool that holds file contents, the limits and policy, the notes collected so far, and
/// who hears about progress. One for a whole build (or one `image_tree` call).
pub(crate) struct Unpacker<'a> {
    pub layout: &'a SourceLayout,
    pub spool: Arc<Spool>,
    pub limits: Limits,
    pub policy: Policy,
    pub notes: Vec<Note>,
    pub progress: &'a dyn BuildProgress,
}

impl Unpacker<'_> {
    /// Flattens an image's layers into a tree.
    pub(crate) fn image_tree(&mut self, src: &ImageSource) -> Result<Tree, BuildError> {
        let mut tree = Tree::new(self.spool.clone());
        let mut budget = Budget::default();
        for layer in src.layers() {
            let digest = layer.digest().to_string();
            let file = self.layout.open_blob(&src.reference, &digest)?;
            let origin = Origin {
                image: src.reference.clone(),
                layer: digest.clone(),
            };
            self.apply(
                &mut tree,
                std::io::BufReader::with_capacity(1 << 20, file),
                Some(&digest),
                &origin,
                &mut budget,
            )?;
            self.progress
                .layer_unpacked(&src.reference, &digest, layer.size());
        }
        self.progress.image_unpacked(&src.reference);
        Ok(tree)
    }

    /// Applies one layer blob (compressed or not; checked against `digest` when given)
    /// over `tree`, within `budget`.
    pub(crate) fn apply(
        &mut self,
        tree: &mut Tree,
        raw: impl std::io::Read,
        digest: Option<&str>,
        origin: &Origin,
        budget: &mut Budget,
    ) -> Result<(), BuildError> {
        let mut ctx = Ctx {
            limits: self.limits,
            policy: self.policy,
            notes: &mut self.notes,
        };
        apply_blob(tree, raw, digest, origin, budget, &mut ctx)
    }
}

/// Reports what the build will unpack: every image of the config (kernel, init,
/// containers), its layers and their stored size.
fn plan(
    config: &Config,
    image: &dyn Fn(&str) -> Result<ImageSource, BuildError>,
    progress: &dyn BuildProgress,
) -> Result<(), BuildError> {
    let kernel = config.kernel.as_ref().and_then(|k| k.image.as_ref());
    let containers = container_sections(config)
        .into_iter()
        .flat_map(|(_, images, _)| images.iter().map(|i| &i.image));
    let (mut images, mut layers, mut bytes) = (0, 0, 0);
    for r in kernel.into_iter().chain(&config.init).chain(containers) {
        let src = image(r)?;
        images += 1;
        layers += src.layers().len();
        bytes += src.layers().iter().map(|l| l.size()).sum::<u64>();
    }
    progress.build_planned(images, layers, bytes);
    Ok(())
}

/// LinuxKit's `ImageTar` touch-ups of an image's root filesystem.
fn linuxkit_touchups(t: &mut Tree, resolv_symlink: bool) {
    for k in [
        ".dockerenv",
        "Dockerfile",
        "dev/console",
        "dev/pts",
        "dev/shm",
        "etc/hostname",
    ] {
        if t.get(k).is_some() {
            t.remove(k.as_bytes());
        }
    }
    let regular = |t: &Tree, k: &str, content: &str| {
        let (mode, uid, gid) = t.get(k).map_or((0o644, 0, 0), |n| (n.mode, n.uid, n.gid));
        Node::file(
            Content::bytes(content),
            if mode == 0o777 { 0o644 } else { mode },
        )
        .owned(uid, gid)
    };
    if t.get("etc/hosts").is_some() {
        let n = regular(t, "etc/hosts", HOSTS);
        t.put(b"etc/hosts".to_vec(), n);
    }
    if t.get("etc/resolv.conf").is_some() {
        let n = if resolv_symlink {
            Node::symlink(RESOLV_SYMLINK)
        } else {
            regular(t, "etc/resolv.conf", RESOLV)
        };
        t.put(b"etc/resolv.conf".to_vec(), n);
    }
    for d in ["dev", "dev/pts", "dev/shm", "etc", "proc", "sys"] {
        if t.get(d).is_none() {
            let _ = t.insert(d, Node::dir(0o755));
        }
    }
    if t.get("etc/mtab").is_none() {
        let _ = t.insert("etc/mtab", Node::symlink("/proc/mounts"));
    }
    if t.get("etc/resolv.conf").is_none() {
        let n = if resolv_symlink {
            Node::symlink(RESOLV_SYMLINK)
        } else {
            Node::file(Content::bytes(RESOLV), 0o644)
        };
        let _ = t.insert("etc/resolv.conf", n);
    }
    if t.get("etc/hosts").is_none() {
        let _ = t.insert("etc/hosts", Node::file(Content::bytes(HOSTS), 0o644));
    }
}

/// Lays `src` over `dst` the way extracting it would: sorted entries, parents resolved
/// inside `dst`.
fn overlay(dst: &mut Tree, src: &Tree, origin: &Origin) -> Result<(), BuildError> {
    for (k, n) in src.iter() {
        let path = String::from_utf8_lossy(k).into_owned();
        if k.is_empty() {
            continue;
        }
        dst.insert(&path, n.clone())
            .map_err(|e| e.into_build(origin, k))?;
    }
    Ok(())
}

fn mkdirs(t: &mut Tree, path: &str) -> Result<(), BuildError> {
    t.graft(path, &Tree::new(t.spool().clone()))
        .map_err(|e| BuildError::Options(format!("{path}: {e}")))
}

/// Builds the whole tree (no output written).
pub(crate) fn build_tree(
    config: &Config,
    layout: &Path,
    opts: &BuildOptions,
    progress: &dyn BuildProgress,
) -> Result<(Tree, Vec<Note>), BuildError> {
    let layout = SourceLayout::open(layout)?;
    let spool = Spool::new(
        opts.temp_dir
            .clone()
            .unwrap_or_else(crate::tree::default_spool_dir),
    );
    let mut tree = Tree::new(spool.clone());
    let image = |reference: &str| layout.image(reference, &opts.arch);
    plan(config, &image, progress)?;
    let mut unpacker = Unpacker {
        layout: &layout,
        spool,
        limits: opts.limits,
        policy: opts.policy,
        notes: Vec::new(),
        progress,
    };

    // Kernel.
    if let Some(k) = &config.kernel {
        if let Some(kref) = &k.image {
            let src = image(kref)?;
            add_kernel(&mut unpacker, &mut tree, k, kref, &src)?;
        }
    }

    // Init images, flattened into `/`.
    for r in &config.init {
        let src = image(r)?;
        let mut itree = unpacker.image_tree(&src)?;
        linuxkit_touchups(&mut itree, true);
        let origin = Origin {
            image: r.clone(),
            layer: "(init)".into(),
        };
        overlay(&mut tree, &itree, &origin)?;
    }

    // Containers. Names double as uids/gids, as in LinuxKit.
    let ids = container_ids(config);
    for (section, images, numbered) in container_sections(config) {
        for (i, img) in images.iter().enumerate() {
            let place = ContainerPlace {
                section,
                numbered,
                index: i,
            };
            check_container_name(place, img)?;
            let src = image(&img.image)?;
            add_container(&mut unpacker, &mut tree, place, img, &src, &ids)?;
        }
    }

    // Files.
    for (index, f) in config.files.iter().enumerate() {
        add_file(&mut tree, config, index, f, &ids, &opts.files_base)?;
    }
    // The SBOM, where `linuxkit build` puts its merged one (written after the images,
    // moby/build/build.go:406; mode 0644, owner 0:0, sbom.go `Close`).
    if let Some(sbom) = &opts.sbom {
        tree.insert(
            "sbom.spdx.json",
            Node::file(Content::bytes(sbom.clone()), 0o644),
        )
        .map_err(|e| BuildError::Options(format!("sbom.spdx.json: {e}")))?;
    }
    Ok((tree, unpacker.notes))
}

/// The kernel image's kernel (or `binary`), cmdline and ucode under `boot/`, and its
/// modules tar (`kernel.tar` unless `tar` names another, or `none`) unpacked into `/`.
fn add_kernel(
    unpacker: &mut Unpacker<'_>,
    tree: &mut Tree,
    k: &Kernel,
    kref: &str,
    src: &ImageSource,
) -> Result<(), BuildError> {
    let kerr = |reason: String| BuildError::Kernel {
        image: kref.to_string(),
        reason,
    };
    let ktree = unpacker.image_tree(src)?;
    let binary = k.binary.clone().unwrap_or_else(|| "kernel".into());
    let knode = ktree
        .get(&binary)
        .filter(|n| matches!(n.kind, NodeKind::File { .. }))
        .ok_or_else(|| kerr(format!("no `{binary}` file in the kernel image")))?;
    let mode = knode.mode;
    let NodeKind::File { content, .. } = &knode.kind else {
        unreachable!()
    };
    tree.insert("boot", Node::dir(0o755))
        .map_err(|e| kerr(e.to_string()))?;
    let cmdline = k.cmdline.clone().unwrap_or_default();
    tree.insert("boot/cmdline", Node::file(Content::bytes(cmdline), 0o644))
        .map_err(|e| kerr(e.to_string()))?;
    tree.insert("boot/kernel", Node::file(content.clone(), mode))
        .map_err(|e| kerr(e.to_string()))?;
    if let Some(ucode) = &k.ucode {
        let u = ktree
            .get(ucode)
            .filter(|n| matches!(n.kind, NodeKind::File { .. }))
            .ok_or_else(|| kerr(format!("no `{ucode}` file in the kernel image")))?;
        tree.insert("boot/ucode.cpio", u.clone())
            .map_err(|e| kerr(e.to_string()))?;
    }
    let tar_name = match k.tar.as_deref() {
        Some("none") => None,
        Some(t) => Some(t.to_string()),
        None => Some("kernel.tar".to_string()),
    };
    if let Some(tar_name) = tar_name {
        let t = ktree
            .get(&tar_name)
            .filter(|n| matches!(n.kind, NodeKind::File { .. }))
            .ok_or_else(|| {
                kerr(format!(
                    "no `{tar_name}` in the kernel image (set `tar: none` if it has no modules)"
                ))
            })?;
        let NodeKind::File { content, .. } = &t.kind else {
            unreachable!()
        };
        let mut buf = Vec::new();
        unpacker
            .spool
            .copy_to(content, &mut buf)
            .map_err(|e| kerr(e.to_string()))?;
        let origin = Origin {
            image: kref.to_string(),
            layer: tar_name.clone(),
        };
        let mut budget = Budget::default();
        unpacker.apply(tree, buf.as_slice(), None, &origin, &mut budget)?;
    }
    Ok(())
}

/// Each container's uid/gid: its name doubles as one, as in LinuxKit (100 and up, in
/// section order; a name used twice keeps its first).
fn container_ids(config: &Config) -> BTreeMap<String, u32> {
    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    for (i, img) in config
        .onboot
        .iter()
        .chain(&config.onshutdown)
        .chain(&config.services)
        .enumerate()
    {
        ids.entry(img.name.clone()).or_insert(100 + i as u32);
    }
    ids
}

/// Where a container goes: its section, whether the section numbers its directories, and
/// its index there.
#[derive(Clone, Copy)]
struct ContainerPlace {
    section: &'static str,
    numbered: bool,
    index: usize,
}

fn container_error(place: ContainerPlace, img: &Image, reason: String) -> BuildError {
    BuildError::Container {
        section: place.section.into(),
        index: place.index,
        name: img.name.clone(),
        image: img.image.clone(),
        reason,
    }
}

/// A container's name is one path component (it names its directory).
fn check_container_name(place: ContainerPlace, img: &Image) -> Result<(), BuildError> {
    if img.name.is_empty() || img.name.contains('/') || img.name == "." || img.name == ".." {
        return Err(container_error(
            place,
            img,
            "the name must be a single path component".into(),
        ));
    }
    Ok(())
}

/// A container's directory: its image (with LinuxKit's touch-ups) as `rootfs/`, its OCI
/// runtime `config.json` and LinuxKit's `runtime.json`.
fn add_container(
    unpacker: &mut Unpacker<'_>,
    tree: &mut Tree,
    place: ContainerPlace,
    img: &Image,
    src: &ImageSource,
    ids: &BTreeMap<String, u32>,
) -> Result<(), BuildError> {
    let cerr = |reason: String| container_error(place, img, reason);
    let mut ctree = unpacker.image_tree(src)?;
    linuxkit_touchups(&mut ctree, false);
    let resolver = IdResolver {
        containers: ids.clone(),
        passwd: ctree
            .read_file("etc/passwd")
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        group: ctree
            .read_file("etc/group")
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    let bundle = bundle_config(&src.config, &img.container, &resolver).map_err(cerr)?;
    let dir = container_dir(place.section, place.numbered, place.index, &img.name);
    let config_json = bundle.config_json().map_err(cerr)?;
    let mut runtime = bundle.runtime.clone();
    let rootfs = format!("/{dir}/rootfs");
    let mut mounts = vec![json!({"source": rootfs, "destination": rootfs, "options": ["bind"]})];
    if let Some(m) = runtime["mounts"].as_array() {
        mounts.extend(m.iter().cloned());
    }
    runtime["mounts"] = json!(mounts);
    let runtime_json = pretty(&crate::spec::canonical(runtime)).map_err(cerr)?;
    mkdirs(tree, &dir)?;
    tree.graft(&format!("{dir}/rootfs"), &ctree)
        .map_err(|e| cerr(e.to_string()))?;
    tree.insert(
        &format!("{dir}/config.json"),
        Node::file(Content::bytes(config_json), 0o644),
    )
    .map_err(|e| cerr(e.to_string()))?;
    tree.insert(
        &format!("{dir}/runtime.json"),
        Node::file(Content::bytes(runtime_json), 0o644),
    )
    .map_err(|e| cerr(e.to_string()))?;
    Ok(())
}

fn add_file(
    tree: &mut Tree,
    config: &Config,
    index: usize,
    f: &FileEntry,
    ids: &BTreeMap<String, u32>,
    base: &Path,
) -> Result<(), BuildError> {
    let ferr = |reason: String| BuildError::File {
        index,
        path: f.path.clone(),
        reason,
    };
    let mut f = f.clone();
    f.path = f.path.trim_start_matches('/').to_string();
    f.check().map_err(ferr)?;
    let dir = f.directory == Some(true);
    let mode = match &f.mode {
        Some(m) => u32::from_str_radix(m, 8).map_err(|e| ferr(format!("mode `{m}`: {e}")))?,
        None if dir => 0o700,
        None => 0o600,
    };
    let mut dir_mode = mode & 0o7777;
    for (r, x) in [(0o700, 0o100), (0o070, 0o010), (0o007, 0o001)] {
        if dir_mode & r != 0 {
            dir_mode |= x;
        }
    }
    let resolver = IdResolver {
        containers: ids.clone(),
        ..Default::default()
    };
    let id = |v: &Option<IdOrName>, group: bool| -> Result<u64, BuildError> {
        match v {
            None => Ok(0),
            Some(v) => resolver.lookup(v, group).map(u64::from).map_err(ferr),
        }
    };
    let (uid, gid) = (id(&f.uid, false)?, id(&f.gid, true)?);
    let node = if dir {
        Node::dir(mode)
    } else if let Some(target) = &f.symlink {
        Node::symlink(target.as_bytes())
    } else {
        let contents: Vec<u8> = if let Some(c) = &f.contents {
            c.clone().into_bytes()
        } else if let Some(src) = &f.source {
            let path: PathBuf = match src.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(rest),
                None => base.join(src),
            };
            match std::fs::read(&path) {
                Ok(b) => b,
                Err(_) if f.optional == Some(true) => return Ok(()),
                Err(e) => return Err(ferr(format!("source {}: {e}", path.display()))),
            }
        } else {
            match f.metadata.as_deref() {
                Some("json") => {
                    let v = serde_json::to_value(config).map_err(|e| ferr(e.to_string()))?;
                    pretty(&v).map_err(ferr)?
                }
                Some("yaml") => serde_yaml::to_string(config)
                    .map_err(|e| ferr(e.to_string()))?
                    .into_bytes(),
                Some(other) => {
                    return Err(ferr(format!(
                        "unsupported metadata type `{other}` (json or yaml)"
                    )))
                }
                None => return Err(ferr("no contents".into())),
            }
        };
        Node::file(Content::bytes(contents), mode)
    };
    // Missing leading directories get the entry's owner and a mode derived from its.
    let comps: Vec<&str> = f
        .path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut prefix = String::new();
    for c in &comps[..comps.len().saturating_sub(1)] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(c);
        let exists = tree
            .resolve_existing(prefix.as_bytes(), false)
            .map_err(|e| ferr(e.to_string()))?
            .is_some();
        if !exists {
            tree.insert(&prefix, Node::dir(dir_mode).owned(uid, gid))
                .map_err(|e| ferr(e.to_string()))?;
        }
    }
    tree.insert(&f.path, node.owned(uid, gid))
        .map_err(|e| ferr(e.to_string()))
}
