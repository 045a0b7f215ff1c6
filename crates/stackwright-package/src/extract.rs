//! Taking what a release needs out of its downloaded files: a binary as it is, the
//! members of a `.tar.gz`/`.tgz`/`.tar.xz`, or the data members of a Debian `.deb`, each
//! placed by the manifest's `extract` rules ([`stackwright_types::package::Extract`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use stackwright_types::package::{normalize_member, FileFormat, FileLayout, ReleaseFile};

use crate::{ImageBuilder, PackageError};

/// Caps on what one archive may unpack to (a decompression bomb stops here).
#[derive(Clone, Copy, Debug)]
pub struct ExtractLimits {
    /// Bytes of members taken, in total.
    pub total_bytes: u64,
    /// Archive entries read (taken or not).
    pub entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            total_bytes: 4 << 30,
            entries: 1_000_000,
        }
    }
}

/// Adds what `file` (downloaded to `path`) contributes to the image. Every `extract`
/// rule must take at least one member: a rule that matches nothing is an error naming
/// the URL (upstream renamed something, or the manifest is wrong).
pub fn add_release_file(
    mut builder: ImageBuilder,
    file: &ReleaseFile,
    path: &Path,
    limits: ExtractLimits,
) -> Result<ImageBuilder, PackageError> {
    match &file.layout {
        FileLayout::Binary { path: to, mode } => {
            builder = builder.file_from_disk(to.clone(), mode.0, path);
        }
        FileLayout::Extract(rules) => {
            let open = || std::fs::File::open(path).map_err(|e| PackageError::io(path, e));
            let bad = |reason: String| PackageError::Archive {
                url: file.url.clone(),
                reason,
            };
            let members = match file.format {
                FileFormat::TarGz | FileFormat::Tgz => {
                    read_tar(flate2::read::GzDecoder::new(open()?), file, limits)?
                }
                FileFormat::TarXz => read_tar(xz2::read::XzDecoder::new(open()?), file, limits)?,
                FileFormat::Deb => {
                    let (name, data) = deb_data(open()?).map_err(bad)?;
                    if name.ends_with(".tar.xz") {
                        read_tar(xz2::read::XzDecoder::new(data.as_slice()), file, limits)?
                    } else if name.ends_with(".tar.gz") {
                        read_tar(flate2::read::GzDecoder::new(data.as_slice()), file, limits)?
                    } else if name == "data.tar" {
                        read_tar(data.as_slice(), file, limits)?
                    } else {
                        return Err(bad(format!(
                            "its data member is {name}; only data.tar, data.tar.gz and data.tar.xz are read"
                        )));
                    }
                }
                FileFormat::Binary => unreachable!("binaries have FileLayout::Binary"),
            };
            for rule in rules {
                let mut taken = 0;
                for (member, m) in &members {
                    let Some(to) = rule.target(member) else {
                        continue;
                    };
                    taken += 1;
                    builder = match m {
                        Member::File { mode, bytes } => {
                            builder.file(to, rule.mode.map_or(*mode, |m| m.0), bytes.clone())
                        }
                        Member::Symlink(target) => builder.symlink(to, target.clone()),
                        Member::Unread => unreachable!("unread members match no rule"),
                        Member::Dir(mode) => {
                            if rule.is_prefix() {
                                builder.dir(to, rule.mode.map_or(*mode, |m| m.0))
                            } else {
                                return Err(bad(format!(
                                    "extract `{}` names a directory; end it with `/` to take what is under it",
                                    rule.from
                                )));
                            }
                        }
                    };
                }
                if taken == 0 {
                    let mut names: Vec<&str> = members.keys().map(String::as_str).collect();
                    names.truncate(12);
                    return Err(bad(format!(
                        "extract `{}` matches no member (it has: {}{})",
                        rule.from,
                        names.join(", "),
                        if members.len() > 12 { ", …" } else { "" }
                    )));
                }
            }
        }
    }
    Ok(builder)
}

#[derive(Clone, Debug)]
enum Member {
    File {
        mode: u32,
        bytes: Vec<u8>,
    },
    Symlink(String),
    Dir(u32),
    /// A file no rule takes (listed in messages, never read).
    Unread,
}

/// Every member of a tar stream by normalised name (hard links resolved to the file
/// they name; device nodes and fifos skipped: nothing a packaged binary needs).
fn read_tar(
    r: impl Read,
    file: &ReleaseFile,
    limits: ExtractLimits,
) -> Result<BTreeMap<String, Member>, PackageError> {
    let bad = |reason: String| PackageError::Archive {
        url: file.url.clone(),
        reason,
    };
    let wanted = |name: &str| match &file.layout {
        FileLayout::Extract(rules) => rules.iter().any(|r| r.target(name).is_some()),
        FileLayout::Binary { .. } => false,
    };
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for (n, entry) in entries.enumerate() {
        if n as u64 >= limits.entries {
            return Err(bad(format!("more than {} entries", limits.entries)));
        }
        let mut entry = entry.map_err(|e| bad(format!("reading entry {n}: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize_member(&raw).trim_end_matches('/').to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = header.entry_type();
        let member = if kind.is_dir() {
            Member::Dir(mode)
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Member::Symlink(target)
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| normalize_member(&String::from_utf8_lossy(&b)).to_string())
                .unwrap_or_default();
            match out.get(&target) {
                Some(m @ Member::File { .. }) => m.clone(),
                _ if wanted(&name) => {
                    return Err(bad(format!(
                        "{name} is a hard link to {target}, which no extract rule takes"
                    )))
                }
                _ => continue,
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            if !wanted(&name) {
                out.insert(name, Member::Unread);
                continue;
            }
            let size = header.size().unwrap_or(0);
            total += size;
            if total > limits.total_bytes {
                return Err(bad(format!(
                    "its members add up to more than {} bytes",
                    limits.total_bytes
                )));
            }
            let mut bytes = Vec::with_capacity(size.min(1 << 30) as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("reading {name}: {e}")))?;
            Member::File { mode, bytes }
        } else {
            continue;
        };
        out.insert(name, member);
    }
    Ok(out)
}

/// The `data.tar*` member of a Debian package: (its name, its bytes).
fn deb_data(r: impl Read) -> Result<(String, Vec<u8>), String> {
    let mut ar = ar::Archive::new(r);
    let mut seen = Vec::new();
    while let Some(entry) = ar.next_entry() {
        let mut entry = entry.map_err(|e| format!("not a Debian package (ar archive): {e}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if name.starts_with("data.tar") {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| format!("reading {name}: {e}"))?;
            return Ok((name, bytes));
        }
        seen.push(name);
    }
    Err(format!("no data.tar member (it has: {})", seen.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackwright_oci::Cache;
    use stackwright_types::manifest::Arch;
    use stackwright_types::package::{Extract, Mode};
    use std::io::Write;

    fn tarball(compress: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            if kind.is_symlink() || kind.is_hard_link() {
                b.append_link(&mut h, name, link).unwrap();
            } else {
                b.append_data(&mut h, name, data).unwrap();
            }
        };
        add("./bin/", tar::EntryType::Directory, 0o755, b"", "");
        add(
            "./bin/ctr",
            tar::EntryType::Regular,
            0o755,
            b"ctr-bytes",
            "",
        );
        add(
            "./bin/containerd",
            tar::EntryType::Regular,
            0o700,
            b"cd-bytes",
            "",
        );
        add(
            "./bin/containerd-again",
            tar::EntryType::Link,
            0o755,
            b"",
            "./bin/containerd",
        );
        add("./bin/c", tar::EntryType::Symlink, 0o777, b"", "ctr");
        add("./README", tar::EntryType::Regular, 0o644, b"readme", "");
        let tar = b.into_inner().unwrap();
        match compress {
            "gz" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&tar).unwrap();
                e.finish().unwrap()
            }
            "xz" => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(&tar).unwrap();
                e.finish().unwrap()
            }
            _ => tar,
        }
    }

    fn release_file(format: FileFormat, rules: Vec<Extract>) -> ReleaseFile {
        ReleaseFile {
            arch: Arch::Amd64,
            url: "https://example.invalid/containerd.tar.gz".into(),
            sha256: None,
            checksum_source: None,
            format,
            layout: FileLayout::Extract(rules),
            location: stackwright_types::Location::file_only("containerd.toml"),
        }
    }

    fn layer_listing(cache: &Cache, built: &crate::BuiltImage) -> Vec<String> {
        let blob = std::fs::read(cache.blob_path(&built.layers[0].digest)).unwrap();
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut body = String::new();
                let _ = e.read_to_string(&mut body);
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| format!(" -> {}", l.display()))
                    .unwrap_or_default();
                format!(
                    "{} {:o}{link} {body}",
                    e.path().unwrap().display(),
                    e.header().mode().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn archives_are_taken_by_their_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let rules = vec![
            Extract {
                from: "bin/".into(),
                to: "usr/bin/".into(),
                mode: None,
            },
            Extract {
                from: "README".into(),
                to: "usr/share/doc/containerd/".into(),
                mode: Some(Mode(0o600)),
            },
        ];
        let mut digests = Vec::new();
        for (ext, format) in [("gz", FileFormat::TarGz), ("xz", FileFormat::TarXz)] {
            let path = dir.path().join(format!("a.{ext}"));
            std::fs::write(&path, tarball(ext)).unwrap();
            let b = crate::LocalImage::builder("amd64").mtime(0);
            let b = add_release_file(
                b,
                &release_file(format, rules.clone()),
                &path,
                ExtractLimits::default(),
            )
            .unwrap();
            let built = b.build(&cache).unwrap();
            assert_eq!(
                layer_listing(&cache, &built),
                [
                    "usr/ 755 ",
                    "usr/bin/ 755 ",
                    "usr/bin/c 777 -> ctr ",
                    "usr/bin/containerd 700 cd-bytes",
                    "usr/bin/containerd-again 700 cd-bytes",
                    "usr/bin/ctr 755 ctr-bytes",
                    "usr/share/ 755 ",
                    "usr/share/doc/ 755 ",
                    "usr/share/doc/containerd/ 755 ",
                    "usr/share/doc/containerd/README 600 readme",
                ]
            );
            digests.push(built.manifest.digest);
        }
        assert_eq!(digests[0], digests[1], "same members, same image");
    }

    #[test]
    fn a_rule_that_takes_nothing_names_the_url_and_the_members() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tgz");
        std::fs::write(&path, tarball("gz")).unwrap();
        let f = release_file(
            FileFormat::Tgz,
            vec![Extract {
                from: "containerd-2.3/bin/".into(),
                to: "usr/bin/".into(),
                mode: None,
            }],
        );
        let err = add_release_file(
            crate::LocalImage::builder("amd64"),
            &f,
            &path,
            ExtractLimits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("https://example.invalid/containerd.tar.gz: extract `containerd-2.3/bin/` matches no member (it has: README, bin, bin/c"),
            "{err}"
        );
        // Not a tarball at all.
        std::fs::write(&path, b"<html>404</html>").unwrap();
        let err = add_release_file(
            crate::LocalImage::builder("amd64"),
            &f,
            &path,
            ExtractLimits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("example.invalid"), "{err}");
        // A bomb stops at the limit.
        std::fs::write(&path, tarball("gz")).unwrap();
        let tiny = ExtractLimits {
            total_bytes: 4,
            entries: 100,
        };
        let f = release_file(
            FileFormat::Tgz,
            vec![Extract {
                from: "bin/".into(),
                to: "usr/bin/".into(),
                mode: None,
            }],
        );
        let err = add_release_file(crate::LocalImage::builder("amd64"), &f, &path, tiny)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 4 bytes"), "{err}");
    }
}
