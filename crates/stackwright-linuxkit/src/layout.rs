//! The layout: what a `linuxkit.yml` says that the assembly format cannot hold yet, and
//! the reading back of an import into a [`Config`].
//!
//! An assembly says *which* components; a LinuxKit file also says in which section and in
//! which order each image runs, under which name, with which kernel files, trust and
//! volumes. Until the assembly format has a place for these (proposed: a `[linuxkit]`
//! table with exactly these keys), the import writes them beside the assembly as
//! `linuxkit-layout.toml`. [`reconstruct`] is the reference for what a renderer must do
//! with an imported assembly to give back the original file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stackwright_types::assembly::AssemblyFile;
use stackwright_types::linuxkit::{Config, Image, Kernel, Trust, Volume};
use stackwright_types::manifest::Manifest;

/// The file name of the layout, beside `assembly.toml`.
pub const LAYOUT_FILE: &str = "linuxkit-layout.toml";

/// Sections, order, names and the LinuxKit-only fields of an imported file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The LinuxKit files this came from, in merge order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// When false, a registry component listed here renders with exactly the assembly's
    /// `container` settings, without the manifest's `[container]` defaults: the LinuxKit
    /// file said everything (the rest came from the image's own label at build time).
    #[serde(default = "yes")]
    pub inherit_container: bool,
    /// Component ids of the `init` section, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<String>,
    /// Component ids of the `onboot` section, in order (they run one after another).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onboot: Vec<String>,
    /// Component ids of the `onshutdown` section, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onshutdown: Vec<String>,
    /// Component ids of the `services` section, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The kernel section, when the file has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<LayoutKernel>,
    /// Component id → LinuxKit `name`, where they differ.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

fn yes() -> bool {
    true
}

/// The kernel section: which component, and the fields the assembly's `[kernel]` lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutKernel {
    /// The kernel component; absent when the file's kernel section has no image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucode: Option<String>,
}

impl Layout {
    /// Reads a layout file.
    pub fn parse(text: &str) -> Result<Layout, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Every component id the layout places, in LinuxKit's section order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.kernel
            .iter()
            .filter_map(|k| k.component.as_deref())
            .chain(self.init.iter().map(String::as_str))
            .chain(self.onboot.iter().map(String::as_str))
            .chain(self.onshutdown.iter().map(String::as_str))
            .chain(self.services.iter().map(String::as_str))
    }
}

/// An import as read back from disk: the assembly, the components it generated, the layout.
#[derive(Clone, Debug)]
pub struct ReadBack {
    pub assembly: AssemblyFile,
    pub generated: BTreeMap<String, Manifest>,
    pub layout: Layout,
}

/// The LinuxKit configuration an imported assembly stands for: each placed component with
/// its image (the assembly's `image`, else the newest release in its range) and settings
/// (see [`Layout::inherit_container`]), under its LinuxKit name; the kernel's command line
/// and the files from the assembly; the rest from the layout. This is what a renderer must
/// produce, section by section, for the import to be lossless.
pub fn reconstruct(read: &ReadBack, registry: &[Manifest]) -> Result<Config, String> {
    let asm = &read.assembly;
    let layout = &read.layout;
    let resolve = |id: &str| -> Result<(String, stackwright_types::container::Container), String> {
        let entry = asm
            .components
            .get(id)
            .ok_or_else(|| format!("the layout places `{id}`, which the assembly does not list"))?;
        let (manifest, generated) = match read.generated.get(id) {
            Some(m) => (m, true),
            None => (
                registry.iter().find(|m| m.id == id).ok_or_else(|| {
                    format!("component `{id}` is neither generated nor in the registry")
                })?,
                false,
            ),
        };
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
        let container = if generated || layout.inherit_container {
            manifest.container.overlay(&entry.container)
        } else {
            entry.container.clone()
        };
        Ok((image, container))
    };
    let images = |ids: &[String]| -> Result<Vec<Image>, String> {
        ids.iter()
            .map(|id| {
                let (image, container) = resolve(id)?;
                Ok(Image {
                    name: layout.names.get(id).cloned().unwrap_or_else(|| id.clone()),
                    image,
                    container,
                })
            })
            .collect()
    };
    let kernel = match &layout.kernel {
        None => None,
        Some(k) => Some(Kernel {
            image: match &k.component {
                Some(id) => Some(resolve(id)?.0),
                None => None,
            },
            cmdline: asm.cmdline.as_ref().map(|c| c.value.clone()),
            binary: k.binary.clone(),
            tar: k.tar.clone(),
            ucode: k.ucode.clone(),
        }),
    };
    Ok(Config {
        kernel,
        init: layout
            .init
            .iter()
            .map(|id| resolve(id).map(|r| r.0))
            .collect::<Result<_, _>>()?,
        onboot: images(&layout.onboot)?,
        onshutdown: images(&layout.onshutdown)?,
        services: images(&layout.services)?,
        trust: layout.trust.clone(),
        files: asm.files.iter().map(|f| f.value.clone()).collect(),
        volumes: layout.volumes.clone(),
    })
}
