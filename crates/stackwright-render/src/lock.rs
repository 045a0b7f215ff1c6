//! `stackwright.lock`.

use stackwright_types::lock::{LockedComponent, LockedFile, LockedParent, Lockfile, LOCK_VERSION};

use crate::Platform;

/// The lockfile: every chosen component with version, image, digest and reason, and for a
/// packaged image the upstream files (URL, sha256) it is built from.
pub fn lockfile(p: &Platform<'_>) -> Lockfile {
    let no_config = std::collections::BTreeMap::new();
    let components = p
        .resolution
        .components
        .iter()
        .map(|(id, c)| {
            let req = p.loaded.assembly.components.get(id);
            let release = p.registry.manifest(id).and_then(|m| m.release(&c.version));
            let image = release
                .and_then(|r| stackwright_assembly::component_image(id, req, r, p.loaded.arch))
                .map(|i| p.published_name(i));
            let digest = image.as_ref().and_then(|i| p.digests.get(i).cloned());
            let config = p
                .registry
                .manifest(id)
                .map(|m| {
                    let given = p
                        .loaded
                        .assembly
                        .components
                        .get(id)
                        .map(|r| &r.config)
                        .unwrap_or(&no_config);
                    stackwright_registry::config::effective_config(m, given)
                })
                .unwrap_or_default();
            let files = release
                .filter(|r| stackwright_assembly::packaged(req, r, p.loaded.arch))
                .map(|r| {
                    r.files
                        .iter()
                        .filter(|f| f.arch == p.loaded.arch)
                        .map(|f| LockedFile {
                            url: f.url.clone(),
                            sha256: f.sha256.as_ref().map(|h| h.hex().to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            LockedComponent {
                id: id.clone(),
                version: c.version.to_string(),
                image,
                digest,
                reason: p.reason(id),
                config,
                files,
            }
        })
        .collect();
    Lockfile {
        version: LOCK_VERSION,
        assembly: p.loaded.name.clone(),
        arch: p.loaded.arch.to_string(),
        parents: p
            .loaded
            .parents
            .iter()
            .map(|r| LockedParent {
                uri: r.uri.clone(),
                digest: r.digest.clone(),
            })
            .collect(),
        components,
    }
}
