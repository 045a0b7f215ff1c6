//! `stackwright.lock`.

use stackwright_types::lock::{LockedComponent, LockedParent, Lockfile, LOCK_VERSION};

use crate::Platform;

/// The lockfile: every chosen component with version, image, digest and reason.
pub fn lockfile(p: &Platform<'_>) -> Lockfile {
    let no_config = std::collections::BTreeMap::new();
    let components = p
        .resolution
        .components
        .iter()
        .map(|(id, c)| {
            let image = p
                .registry
                .manifest(id)
                .and_then(|m| m.release(&c.version))
                .and_then(|r| {
                    stackwright_assembly::effective_image(p.loaded.assembly.components.get(id), r)
                })
                .map(str::to_string);
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
            LockedComponent {
                id: id.clone(),
                version: c.version.to_string(),
                image,
                digest,
                reason: p.reason(id),
                config,
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
