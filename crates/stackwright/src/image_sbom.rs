//! Pulled images' own SBOMs (their publishers' SPDX attestations, which a pull returns),
//! placed for merging into the platform's SPDX document: which component each image
//! belongs to, and where its root filesystem lands in the built tree (the prefix LinuxKit
//! gives its file names).

use std::collections::BTreeMap;

use crate::Assembled;

/// Image reference as written (as [`Assembled::images`] lists it) → the SPDX documents its
/// pull returned.
pub type ImageSboms = BTreeMap<String, Vec<Vec<u8>>>;

/// `(component, prefix, document)` for every attested document of the platform's images,
/// by component id, then place, then the attestation's order. Empty without pulled
/// documents.
#[cfg(not(feature = "oci"))]
pub(crate) fn placed(_: &Assembled) -> Vec<(String, String, &[u8])> {
    // Nothing is pulled without the registry feature.
    Vec::new()
}

/// See above.
#[cfg(feature = "oci")]
pub(crate) fn placed(a: &Assembled) -> Vec<(String, String, &[u8])> {
    if a.image_sboms.values().all(Vec::is_empty) {
        return Vec::new();
    }
    let p = a.platform();
    let config = stackwright_render::linuxkit_config(&p);
    let places = stackwright_build::image_places(&config);
    let mut out = Vec::new();
    // Two components naming one image: each place is merged once, for the first of them.
    let mut used = std::collections::BTreeSet::new();
    for id in a.resolution.components.keys() {
        let Some(written) = a.component_image(id) else {
            continue;
        };
        let Some(docs) = a.image_sboms.get(&written) else {
            continue;
        };
        // The reference linuxkit.yml (and so the tree) uses: pinned when a digest is known.
        let Some(in_config) = p.image_ref(id) else {
            continue;
        };
        for (_, prefix) in places.iter().filter(|(img, _)| *img == in_config) {
            if !used.insert((in_config.clone(), prefix.clone())) {
                continue;
            }
            for d in docs {
                out.push((id.clone(), prefix.clone(), d.as_slice()));
            }
        }
    }
    out
}
