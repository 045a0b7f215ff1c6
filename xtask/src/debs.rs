//! The Debian packages of the end-to-end test's component library (`tests/e2e/components/`),
//! fetched once into `target/e2e-debs/` (a cache, like `target/boot-kernel/`).
//!
//! The manifests are the source of truth: every release file whose URL is on Debian's
//! archive (`http://deb.debian.org/…`) names a package by its file name
//! (`<package>_<version>_<arch>.deb`). For each, `apt-get download --print-uris <package>`
//! says which file this machine's apt would fetch and its SHA256 from the archive's signed
//! index; that must be the manifest's URL and sha256 (otherwise Debian has replaced the
//! package, and the manifest needs the new `Filename`/`SHA256` of `apt-cache show`). The
//! file is then fetched with `apt-get download` and its SHA256 computed and compared before
//! it is moved into place at `target/e2e-debs/<host>/<path>` (the URL's host and path), where
//! the test's file server serves it.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Where the fetched packages live, by the host and path of their URL
/// (`stackwright_testkit::debian::cached_path`).
const DEB_DIR: &str = "target/e2e-debs";
/// The component library whose release files are fetched.
pub const LIBRARY: &str = "tests/e2e/components";

const ARCHIVE_HOST: &str = "deb.debian.org";

/// One `.deb` a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    url: String,
    sha256: String,
    package: String,
    manifest: PathBuf,
}

fn wanted(root: &Path) -> anyhow::Result<Vec<Wanted>> {
    let mut out: Vec<Wanted> = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(LIBRARY))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let src = stackwright_types::SourceText::new(path.display().to_string(), text);
        let m = stackwright_types::manifest::Manifest::parse(&src, stem.as_deref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for r in &m.releases {
            for f in &r.files {
                let Some(rest) = f.url.strip_prefix(&format!("http://{ARCHIVE_HOST}/")) else {
                    continue;
                };
                let file = rest.rsplit('/').next().unwrap_or(rest);
                let package = file.split('_').next().unwrap_or(file).to_string();
                let sha256 = f.sha256.as_ref().map(|s| s.to_string()).ok_or_else(|| {
                    anyhow::anyhow!("{}: {} has no sha256", path.display(), f.url)
                })?;
                let w = Wanted {
                    url: f.url.clone(),
                    sha256,
                    package,
                    manifest: path.clone(),
                };
                if !out.iter().any(|o| o.url == w.url) {
                    out.push(w);
                }
            }
        }
    }
    Ok(out)
}

use stackwright_testkit::debian::cached_path;

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(std::fs::read(path)?);
    Ok(stackwright_types::hex::encode(&h.finalize()))
}

/// `%7e` → `~` and the like (apt prints URIs percent-encoded).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What apt would download for `package`: (URI, SHA256 from the signed index).
fn apt_offers(package: &str) -> anyhow::Result<(String, String)> {
    let out = Command::new("apt-get")
        .args(["download", "--print-uris", package])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(uri), Some(_file), Some(_size), Some(sum)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let uri = percent_decode(uri.trim_matches('\''));
        let sha = sum.strip_prefix("SHA256:").unwrap_or(sum).to_string();
        return Ok((uri, sha));
    }
    anyhow::bail!(
        "apt-get download --print-uris {package} printed no URI (is Debian 12's archive in apt's sources? apt-get update?): {}",
        String::from_utf8_lossy(&out.stderr)
    )
}

fn have_all(list: &[Wanted]) -> bool {
    list.iter().all(|w| cached_path(&w.url).is_file())
}

/// Fetches every `.deb` the library names that is not cached yet (see the module docs).
pub fn fetch(is_root: bool) -> anyhow::Result<()> {
    let list = wanted(Path::new("."))?;
    if have_all(&list) {
        return Ok(());
    }
    if is_root {
        crate::test::status(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    let tmp = Path::new(DEB_DIR).join(".download");
    for w in &list {
        let dest = cached_path(&w.url);
        if dest.is_file() {
            continue;
        }
        let (uri, sha) = apt_offers(&w.package)?;
        if uri != w.url || sha != w.sha256 {
            anyhow::bail!(
                "{}: it names {} (sha256 {}), but Debian's archive now offers {uri} (sha256 {sha}, from its signed index): \
                 Debian replaced the package; put the new Filename and SHA256 of `apt-cache show {}` into the manifest",
                w.manifest.display(),
                w.url,
                w.sha256,
                w.package
            );
        }
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        crate::test::status(
            Command::new("apt-get")
                .args(["download", "-qq", &w.package])
                .current_dir(&tmp),
        )?;
        let got = std::fs::read_dir(&tmp)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or_else(|| anyhow::anyhow!("apt-get download {} left no .deb", w.package))?;
        let actual = sha256_of(&got)?;
        if actual != w.sha256 {
            anyhow::bail!(
                "{}: apt-get download {} gave a file with sha256 {actual}, the manifest and the archive's index say {}",
                w.manifest.display(),
                w.package,
                w.sha256
            );
        }
        std::fs::create_dir_all(dest.parent().expect("a cache path has a parent"))?;
        std::fs::rename(&got, &dest)?;
        eprintln!("fetched {} ({actual})", dest.display());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_uris_are_decoded() {
        assert_eq!(
            percent_decode("http://x/containerd_1.6.20%7eds1-1%2bdeb12u3_amd64.deb"),
            "http://x/containerd_1.6.20~ds1-1+deb12u3_amd64.deb"
        );
        assert_eq!(percent_decode("a%"), "a%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn the_library_names_debian_packages_by_file_name() {
        let list = wanted(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))).unwrap();
        let containerd = list
            .iter()
            .find(|w| w.package == "containerd")
            .expect("the library packages Debian's containerd");
        assert!(containerd
            .url
            .ends_with("containerd_1.6.20~ds1-1+deb12u3_amd64.deb"));
        assert!(
            cached_path(&containerd.url).starts_with("target/e2e-debs/deb.debian.org/debian/pool")
        );
        // libc6 is named by several manifests and fetched once.
        assert_eq!(list.iter().filter(|w| w.package == "libc6").count(), 1);
    }
}
