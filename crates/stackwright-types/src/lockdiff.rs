//! What changed between two lockfiles (`stackwright diff`): components added, removed and
//! changed (version, image, image digest, configuration, the upstream files a packaged image
//! is built from), plus the lock's own fields (assembly, arch, published parents). Nothing
//! unchanged is listed.
//!
//! Upstream files are matched across the two sides by their URL with the component's version
//! written as `{version}` (`…/release/v{version}/bin/linux/amd64/kubelet`), so a version bump
//! shows as the file's new checksum rather than one file removed and another added; the
//! change is named by the file's base name (`file kubelet`), or by the whole URL pattern when
//! two files share a base name.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::lock::{LockedComponent, Lockfile};

/// The differences between lock `a` (before) and lock `b` (after).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LockDiff {
    /// Lock-level fields that differ: `assembly`, `arch`, `parent <uri>`.
    pub lock: Vec<Change>,
    /// Components only in `b`, sorted by id.
    pub added: Vec<Entry>,
    /// Components only in `a`, sorted by id.
    pub removed: Vec<Entry>,
    /// Components in both whose recorded facts differ, sorted by id.
    pub changed: Vec<Changed>,
}

/// One side's facts about a component added or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A component present on both sides, with every field that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub id: String,
    pub changes: Vec<Change>,
}

/// One field's value before and after (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `version`, `image`, `digest`, `config.<key>`, `file <name>` (an upstream file's
    /// sha256, `unverified` when the lock has none; a file that moved to another URL pattern
    /// is one removed and one added), or at lock level `assembly`, `arch`, `parent <uri>`.
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl LockDiff {
    /// Whether the two locks record the same platform.
    pub fn is_empty(&self) -> bool {
        self.lock.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
    }
}

fn change(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Option<Change> {
    (from != to).then(|| Change {
        field: field.into(),
        from,
        to,
    })
}

fn entry(c: &LockedComponent) -> Entry {
    Entry {
        id: c.id.clone(),
        version: c.version.clone(),
        image: c.image.clone(),
        digest: c.digest.clone(),
    }
}

/// Every difference between `a` and `b`. Reasons are not compared: they explain a choice,
/// they are not part of what runs.
pub fn diff(a: &Lockfile, b: &Lockfile) -> LockDiff {
    let mut d = LockDiff::default();
    d.lock.extend(change(
        "assembly",
        Some(a.assembly.clone()),
        Some(b.assembly.clone()),
    ));
    d.lock
        .extend(change("arch", Some(a.arch.clone()), Some(b.arch.clone())));
    let parents = |l: &Lockfile| -> BTreeMap<String, String> {
        l.parents
            .iter()
            .map(|p| (p.uri.clone(), p.digest.clone()))
            .collect()
    };
    let (pa, pb) = (parents(a), parents(b));
    let uris: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    for uri in uris {
        d.lock.extend(change(
            format!("parent {uri}"),
            pa.get(uri).cloned(),
            pb.get(uri).cloned(),
        ));
    }
    let by_id = |l: &Lockfile| -> BTreeMap<String, LockedComponent> {
        l.components
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect()
    };
    let (ca, cb) = (by_id(a), by_id(b));
    let ids: BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    for id in ids {
        match (ca.get(id), cb.get(id)) {
            (None, Some(c)) => d.added.push(entry(c)),
            (Some(c), None) => d.removed.push(entry(c)),
            (Some(x), Some(y)) => {
                let changes = component_changes(x, y);
                if !changes.is_empty() {
                    d.changed.push(Changed {
                        id: id.clone(),
                        changes,
                    });
                }
            }
            (None, None) => unreachable!("id comes from one side"),
        }
    }
    d
}

fn component_changes(x: &LockedComponent, y: &LockedComponent) -> Vec<Change> {
    let mut v: Vec<Change> = Vec::new();
    v.extend(change(
        "version",
        Some(x.version.clone()),
        Some(y.version.clone()),
    ));
    v.extend(change("image", x.image.clone(), y.image.clone()));
    v.extend(change("digest", x.digest.clone(), y.digest.clone()));
    let keys: BTreeSet<&String> = x.config.keys().chain(y.config.keys()).collect();
    for k in keys {
        v.extend(change(
            format!("config.{k}"),
            x.config.get(k).map(value_text),
            y.config.get(k).map(value_text),
        ));
    }
    v.extend(file_changes(x, y));
    v
}

/// A file's URL with the component's version written as `{version}`: the same file of
/// another release has the same pattern.
fn url_pattern(url: &str, version: &str) -> String {
    if version.is_empty() {
        url.to_string()
    } else {
        url.replace(version, "{version}")
    }
}

/// The last path segment of a URL pattern (`kubelet`, `containerd-{version}-linux-amd64.tar.gz`).
fn base_name(pattern: &str) -> &str {
    pattern.rsplit('/').next().unwrap_or(pattern)
}

fn file_changes(x: &LockedComponent, y: &LockedComponent) -> Vec<Change> {
    // pattern -> sha256 text, per side.
    let side = |c: &LockedComponent| -> BTreeMap<String, String> {
        c.files
            .iter()
            .map(|f| {
                let sha = f
                    .sha256
                    .as_ref()
                    .map_or_else(|| "unverified".to_string(), |h| format!("sha256:{h}"));
                (url_pattern(&f.url, &c.version), sha)
            })
            .collect()
    };
    let (fx, fy) = (side(x), side(y));
    let patterns: BTreeSet<&String> = fx.keys().chain(fy.keys()).collect();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &patterns {
        *names.entry(base_name(p)).or_default() += 1;
    }
    let mut v = Vec::new();
    for p in patterns {
        let name = if names[base_name(p)] == 1 {
            base_name(p)
        } else {
            p.as_str()
        };
        v.extend(change(
            format!("file {name}"),
            fx.get(p).cloned(),
            fy.get(p).cloned(),
        ));
    }
    v
}

/// A configuration value as TOML writes it (strings quoted, arrays and tables inline).
fn value_text(v: &toml::Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{LockedParent, LOCK_VERSION};

    fn comp(id: &str, version: &str) -> LockedComponent {
        LockedComponent {
            id: id.into(),
            version: version.into(),
            image: None,
            digest: None,
            reason: "asked for".into(),
            config: BTreeMap::new(),
            files: Vec::new(),
        }
    }

    fn lock(components: Vec<LockedComponent>) -> Lockfile {
        Lockfile {
            version: LOCK_VERSION,
            assembly: "edge".into(),
            arch: "amd64".into(),
            parents: Vec::new(),
            components,
        }
    }

    #[test]
    fn same_lock_has_no_differences_even_with_other_reasons() {
        let a = lock(vec![comp("getty", "0.1.0")]);
        let mut b = a.clone();
        b.components[0].reason = "required by sshd".into();
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn every_kind_of_difference_is_found_once() {
        let mut k1 = comp("kubelet", "1.35.2");
        k1.config
            .insert("max-pods".into(), toml::Value::Integer(110));
        let mut k2 = comp("kubelet", "1.36.1");
        k2.config
            .insert("max-pods".into(), toml::Value::Integer(250));
        k2.image = Some("example/kubelet:v1.36.1".into());
        let mut a = lock(vec![comp("getty", "0.1.0"), k1]);
        let mut b = lock(vec![k2, comp("sshd", "9.9.0")]);
        b.arch = "arm64".into();
        a.parents.push(LockedParent {
            uri: "oci://h/p:1".into(),
            digest: "sha256:aa".into(),
        });
        b.parents.push(LockedParent {
            uri: "oci://h/p:1".into(),
            digest: "sha256:bb".into(),
        });
        let d = diff(&a, &b);
        assert_eq!(
            d.lock.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
            ["arch", "parent oci://h/p:1"]
        );
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].id, "sshd");
        assert_eq!(d.removed[0].id, "getty");
        assert_eq!(d.changed.len(), 1);
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = d.changed[0]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.from.as_deref(), c.to.as_deref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("version", Some("1.35.2"), Some("1.36.1")),
                ("image", None, Some("example/kubelet:v1.36.1")),
                ("config.max-pods", Some("110"), Some("250")),
            ]
        );
        assert!(!d.is_empty());
    }

    fn file(url: &str, sha: Option<&str>) -> crate::lock::LockedFile {
        crate::lock::LockedFile {
            url: url.into(),
            sha256: sha.map(Into::into),
        }
    }

    #[test]
    fn upstream_files_are_matched_across_versions_and_named_by_base_name() {
        let mut a = comp("kubelet", "1.35.4");
        a.files = vec![
            file(
                "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubelet",
                Some("aa"),
            ),
            file(
                "https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubeadm",
                Some("cc"),
            ),
            file("https://a.example/x/tool", Some("11")),
        ];
        let mut b = comp("kubelet", "1.36.4");
        b.files = vec![
            file(
                "https://dl.k8s.io/release/v1.36.4/bin/linux/amd64/kubelet",
                Some("bb"),
            ),
            file(
                "https://dl.k8s.io/release/v1.36.4/bin/linux/amd64/kubeadm",
                Some("cc"),
            ),
            file("https://b.example/x/tool", None),
        ];
        let d = diff(&lock(vec![a]), &lock(vec![b]));
        let got: Vec<(&str, Option<&str>, Option<&str>)> = d.changed[0]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.from.as_deref(), c.to.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("version", Some("1.35.4"), Some("1.36.4")),
                ("file https://a.example/x/tool", Some("sha256:11"), None),
                ("file https://b.example/x/tool", None, Some("unverified")),
                ("file kubelet", Some("sha256:aa"), Some("sha256:bb")),
            ]
        );
    }
}
