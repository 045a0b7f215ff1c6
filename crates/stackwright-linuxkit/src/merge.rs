//! Several files merged as `linuxkit build a.yml b.yml` merges them (LinuxKit's
//! `AppendConfig`): each kernel field a later file sets replaces the earlier one; `init`,
//! `onboot`, `onshutdown`, `services`, `files` and `volumes` append in file order; `trust`
//! lists append. Service names must still be unique once appended (LinuxKit's
//! `uniqueServices`), and so must volume names (see `merge`).

use stackwright_types::diagnostic::Diagnostic;
use stackwright_types::linuxkit::{Config, Kernel, Trust};

use crate::parse::{duplicate_names, Origins, Parsed};

/// The merged configuration of one or more files.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The files, in the order they were merged.
    pub files: Vec<String>,
    pub config: Config,
    pub origins: Origins,
}

/// Appends `files` in order. Fails (with every duplicate) when two files give one name
/// to two entries of one section.
pub fn merge(files: Vec<Parsed>) -> Result<Merged, Vec<Diagnostic>> {
    let mut out = Merged {
        files: Vec::new(),
        config: Config::default(),
        origins: Origins::default(),
    };
    for p in files {
        out.files.push(p.file);
        append(&mut out.config, p.config);
        out.origins.append(p.origins);
    }
    let c = &out.config;
    let mut diags = Vec::new();
    if out.files.len() > 1 {
        let names = |images: &[stackwright_types::linuxkit::Image],
                     locs: &[stackwright_types::Location]| {
            images
                .iter()
                .map(|i| i.name.clone())
                .zip(locs.to_vec())
                .collect::<Vec<_>>()
        };
        // `AppendConfig` (src/cmd/linuxkit/moby/config.go at 3bf33c3a) checks only
        // `uniqueServices` on the appended configuration.
        let pairs = names(&c.services, out.origins.section("services"));
        diags.extend(duplicate_names(
            "services",
            pairs.iter().map(|(n, l)| (n.as_str(), l.clone())),
        ));
        // Volumes: `AppendConfig` does not check them across files (the later file's
        // volume wins its name), but the merged configuration, rendered as one
        // `linuxkit.yml`, would be refused by `uniqueVolumes`; so we refuse it here.
        let vols: Vec<_> = c
            .volumes
            .iter()
            .map(|v| v.name.clone())
            .zip(out.origins.volumes.clone())
            .collect();
        diags.extend(duplicate_names(
            "volumes",
            vols.iter().map(|(n, l)| (n.as_str(), l.clone())),
        ));
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        stackwright_types::diagnostic::sort(&mut diags);
        Err(diags)
    }
}

/// `m1` appended to `m0`, field by field as LinuxKit does it.
pub fn append(m0: &mut Config, m1: Config) {
    if let Some(k1) = m1.kernel {
        let k0 = m0.kernel.get_or_insert_with(Kernel::default);
        // LinuxKit replaces image, cmdline and binary only when the later file gives a
        // non-empty string, and tar/ucode whenever the later file has the key at all.
        let nonempty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if nonempty(&k1.image) || k0.image.is_none() && k1.image.is_some() {
            k0.image = k1.image;
        }
        if nonempty(&k1.cmdline) || k0.cmdline.is_none() && k1.cmdline.is_some() {
            k0.cmdline = k1.cmdline;
        }
        if nonempty(&k1.binary) || k0.binary.is_none() && k1.binary.is_some() {
            k0.binary = k1.binary;
        }
        if k1.tar.is_some() {
            k0.tar = k1.tar;
        }
        if k1.ucode.is_some() {
            k0.ucode = k1.ucode;
        }
    }
    m0.init.extend(m1.init);
    m0.onboot.extend(m1.onboot);
    m0.onshutdown.extend(m1.onshutdown);
    m0.services.extend(m1.services);
    m0.files.extend(m1.files);
    m0.volumes.extend(m1.volumes);
    if let Some(t1) = m1.trust {
        let t0 = m0.trust.get_or_insert_with(Trust::default);
        for (dst, src) in [(&mut t0.image, t1.image), (&mut t0.org, t1.org)] {
            if let Some(items) = src {
                dst.get_or_insert_with(Vec::new).extend(items);
            }
        }
    }
}
