//! The layout: what a `linuxkit.yml` says beyond *which* components — the assembly's
//! `[linuxkit]` table, [`LinuxkitTable`] — and the reading back of an import into a [`Config`].
//!
//! An assembly says which components; a LinuxKit file also says in which section and in
//! which order each image runs, under which name, with which kernel files, trust and
//! volumes. The import writes these as the `[linuxkit]` table of `assembly.toml`
//! ([`LinuxkitTable`] is its serialized form; `stackwright_types::assembly::LinuxkitLayout` the
//! parsed one). [`reconstruct`] is the reference for what the renderer does with an
//! imported assembly to give back the original file.

use std::collections::BTreeMap;

use serde::Serialize;
use stackwright_types::assembly::AssemblyFile;
use stackwright_types::linuxkit::{Config, Image, Kernel, Trust, Volume};
use stackwright_types::manifest::{Manifest, Stage};

/// The `[linuxkit]` table an import writes.
///
/// Every section is written, empty or not: a section the table gives holds exactly its
/// components, so a component the solver adds for a requirement the file does not meet
/// stays out of `linuxkit.yml` (the import warns about it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinuxkitTable {
    /// False for an import: registry components render with exactly the assembly's
    /// `container` settings, without the manifest's `[container]` defaults — the LinuxKit
    /// file said everything (the rest came from the image's own label at build time).
    pub inherit_container: bool,
    /// Component ids of the `init` section, in order.
    pub init: Vec<String>,
    /// Component ids of the `onboot` section, in order (they run one after another).
    pub onboot: Vec<String>,
    /// Component ids of the `onshutdown` section, in order.
    pub onshutdown: Vec<String>,
    /// Component ids of the `services` section, in order.
    pub services: Vec<String>,
    /// `false` when the file has no kernel section (so none is rendered, whatever kernel
    /// the solver adds); the fields beyond the image and command line when it has some, or
    /// has no image (the table then keeps a section no kernel component would produce).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<TableKernelEntry>,
    /// Component id → LinuxKit `name`, where they differ.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

impl Default for LinuxkitTable {
    fn default() -> Self {
        LinuxkitTable {
            inherit_container: true,
            init: Vec::new(),
            onboot: Vec::new(),
            onshutdown: Vec::new(),
            services: Vec::new(),
            kernel: None,
            names: BTreeMap::new(),
            trust: None,
            volumes: Vec::new(),
        }
    }
}

/// `kernel = false`, or `[linuxkit.kernel]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TableKernelEntry {
    /// Always `false`: no kernel section.
    Render(bool),
    Fields(TableKernel),
}

/// `[linuxkit.kernel]`: the kernel fields the assembly's `[kernel]` lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableKernel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucode: Option<String>,
}

/// An import as read back from disk: the assembly (with its `[linuxkit]` table) and the
/// components it generated.
#[derive(Clone, Debug)]
pub struct ReadBack {
    pub assembly: AssemblyFile,
    pub generated: BTreeMap<String, Manifest>,
}

/// The LinuxKit configuration an imported assembly stands for: each placed component with
/// its image (the assembly's `image`, else the newest release in its range) and settings
/// (the assembly's alone when `inherit_container = false`, else laid over the manifest's),
/// under its LinuxKit name; the kernel image from the kernel-stage component, its command
/// line and the files from the assembly; the rest from the `[linuxkit]` table. This is what
/// the renderer produces, section by section, for the import to be lossless.
pub fn reconstruct(read: &ReadBack, registry: &[Manifest]) -> Result<Config, String> {
    let asm = &read.assembly;
    let layout = asm
        .linuxkit
        .as_ref()
        .ok_or("the assembly has no [linuxkit] table")?;
    let manifest = |id: &str| -> Result<&Manifest, String> {
        read.generated
            .get(id)
            .or_else(|| registry.iter().find(|m| m.id == id))
            .ok_or_else(|| format!("component `{id}` is neither generated nor in the registry"))
    };
    let resolve = |id: &str| -> Result<(String, stackwright_types::container::Container), String> {
        let entry = asm
            .components
            .get(id)
            .ok_or_else(|| format!("[linuxkit] places `{id}`, which the assembly does not list"))?;
        let manifest = manifest(id)?;
        let image = match &entry.image {
            Some(i) => i.value.clone(),
            None => manifest
                .releases
                .iter()
                .find(|r| stackwright_types::version::matches(&entry.range(), &r.version))
                .and_then(|r| r.image.clone())
                .ok_or_else(|| {
                    format!(
                        "component `{id}` has no release with an image in range {}",
                        entry.range()
                    )
                })?,
        };
        let container = if layout.inherits_container() {
            manifest.container.overlay(&entry.container)
        } else {
            entry.container.clone()
        };
        Ok((image, container))
    };
    let ids = |section: &str| -> Vec<&str> {
        layout
            .section(section)
            .unwrap_or_default()
            .iter()
            .map(|i| i.value.as_str())
            .collect()
    };
    let images = |section: &str| -> Result<Vec<Image>, String> {
        ids(section)
            .into_iter()
            .map(|id| {
                let (image, container) = resolve(id)?;
                Ok(Image {
                    name: layout.name_of(id).to_string(),
                    image,
                    container,
                })
            })
            .collect()
    };
    let mut kernel_image = None;
    for id in asm.components.keys() {
        if manifest(id)?.stage == Stage::Kernel {
            kernel_image = Some(resolve(id)?.0);
            break;
        }
    }
    let cmdline = asm.cmdline.as_ref().map(|c| c.value.clone());
    let value = |s: &Option<stackwright_types::assembly::Located<String>>| {
        s.as_ref().map(|s| s.value.clone())
    };
    let kernel = match (&layout.kernel, kernel_image) {
        (Some(k), _) if k.omit => None,
        (None, None) => None,
        (None, image) => Some(Kernel {
            image,
            cmdline,
            ..Default::default()
        }),
        (Some(k), image) => Some(Kernel {
            image,
            cmdline,
            binary: value(&k.binary),
            tar: value(&k.tar),
            ucode: value(&k.ucode),
        }),
    };
    Ok(Config {
        kernel,
        init: ids("init")
            .into_iter()
            .map(|id| resolve(id).map(|r| r.0))
            .collect::<Result<_, _>>()?,
        onboot: images("onboot")?,
        onshutdown: images("onshutdown")?,
        services: images("services")?,
        trust: layout.trust.as_ref().map(|t| t.value.clone()),
        files: asm.files.iter().map(|f| f.value.clone()).collect(),
        volumes: layout
            .volumes
            .iter()
            .flatten()
            .map(|v| v.value.clone())
            .collect(),
    })
}
