//! Image references: the one parser every crate uses (`stackwright-oci` to pin and pull,
//! `stackwright-build` to find an image in a layout, the LinuxKit import to match images
//! to components, manifests and assemblies to check what they name).
//!
//! The rules are Docker's reference grammar (`reference.go` and `normalize.go` of
//! github.com/distribution/reference):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]        host: dot-separated [A-Za-z0-9-] labels, or [IPv6]
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! ```
//!
//! Normalisation is Docker's: the first path component is a registry host only when it
//! contains `.` or `:` or is `localhost`; otherwise the registry is `docker.io`
//! (`index.docker.io` is the same registry), and a one-component Docker Hub path is an
//! official image under `library/`. The repository must be lowercase, the name at most
//! 255 characters. A reference with neither tag nor digest means the tag `latest`
//! (Docker's documented default, and what LinuxKit pulls); the tag is kept as written,
//! and [`ImageRef::tag_or_default`] applies the default.
//!
//! Two choices are stricter than Docker: only `sha256` digests (64 lowercase hex digits,
//! the OCI image spec's form) are accepted, since that is all Stackwright verifies; and an
//! upper-case first component without `.` or `:` (`Alpine/x`) is refused as an upper-case
//! repository, where Docker would read it as a registry host named `Alpine`, which is
//! always a typo.

use crate::package::LOCAL_REGISTRY;
use crate::TypesError;

/// Docker Hub, the registry of a name without a host.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";
/// Longest name (host and path) Docker accepts.
const NAME_MAX: usize = 255;
/// Longest tag Docker accepts.
const TAG_MAX: usize = 128;

/// A parsed, normalised image reference that remembers how it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    original: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses `[host[:port]/]path[:tag][@sha256:…]` by the rules above.
    pub fn parse(s: &str) -> Result<ImageRef, TypesError> {
        let fail = |reason: &str| TypesError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(fail("the reference is empty"));
        }
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(&format!("it contains {c:?}")));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            check_digest(d).map_err(|r| fail(&r))?;
        }
        // A `:` after the last `/` starts the tag; one before it is a registry port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(|r| fail(&r))?;
        }
        if name.is_empty() {
            return Err(fail("the name is empty"));
        }
        if name.len() > NAME_MAX {
            return Err(fail(&format!(
                "the name is longer than {NAME_MAX} characters"
            )));
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(
                "a name cannot be 64 hex digits (that is an image id, not a repository)",
            ));
        }
        let (host, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first, rest)
            }
            _ => (DOCKER_HUB, name),
        };
        check_host(host).map_err(|r| fail(&r))?;
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(fail("repository names must be lowercase"));
        }
        check_path(path).map_err(|r| fail(&r))?;
        let registry = match host {
            "index.docker.io" => DOCKER_HUB,
            h => h,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(ImageRef {
            original: s.to_string(),
            registry: registry.to_string(),
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// As written.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Registry and repository, e.g. `docker.io/library/alpine`: two references name the
    /// same repository when this is equal.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The last path component of the repository (`getty` for `linuxkit/getty`).
    pub fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The tag as written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag this reference asks for: as written, else `latest` when there is no digest
    /// either (a digest alone names the image without a tag).
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The digest (`sha256:…`), if written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the reference names a tag or a digest (not just a repository).
    pub fn has_tag_or_digest(&self) -> bool {
        self.tag.is_some() || self.digest.is_some()
    }

    /// Whether this names an image Stackwright built and did not push
    /// (`stackwright.local/…`): it exists in the blob cache only.
    pub fn is_local(&self) -> bool {
        self.registry == LOCAL_REGISTRY
    }

    /// The fully qualified form, e.g. `docker.io/library/alpine:latest`, with `@digest`
    /// when the reference carries one: two references are the same image when this is
    /// equal. Used as the `ref.name` in image layouts.
    pub fn canonical(&self) -> String {
        let mut s = self.name();
        if let Some(t) = self.tag_or_default() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The reference as written with `digest` attached: `linuxkit/getty:v1` →
    /// `linuxkit/getty:v1@sha256:…`. A reference with neither tag nor digest gets
    /// `:latest` (the tag that was resolved); a digest already written is replaced.
    pub fn pinned(&self, digest: &str) -> String {
        let base = self
            .original
            .split_once('@')
            .map_or(self.original.as_str(), |(n, _)| n);
        match (&self.tag, &self.digest) {
            (None, None) => format!("{base}:{DEFAULT_TAG}@{digest}"),
            _ => format!("{base}@{digest}"),
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.original)
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn check_digest(d: &str) -> Result<(), String> {
    if is_sha256_digest(d) {
        return Ok(());
    }
    match d.split_once(':') {
        Some(("sha256", _)) => Err("a sha256 digest is 64 lowercase hex digits".into()),
        Some((alg, _)) if !alg.is_empty() => {
            Err(format!("only sha256 digests are supported, not `{alg}`"))
        }
        _ => Err("a digest is written `sha256:` and 64 lowercase hex digits".into()),
    }
}

fn check_tag(t: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = t.len() <= TAG_MAX
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else if t.is_empty() {
        Err("the tag after `:` is empty".into())
    } else {
        Err(format!(
            "the tag `{t}` is not 1 to {TAG_MAX} of A-Z a-z 0-9 _ . - (not starting with . or -)"
        ))
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let bad = || Err(format!("`{host}` is not a registry host"));
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 address in brackets.
        let Some((addr, after)) = rest.split_once(']') else {
            return bad();
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad();
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad(),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return bad();
        }
    }
    if let Some(n) = name {
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !n.split('.').all(label_ok) {
            return bad();
        }
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    for c in path.split('/') {
        if !component_ok(c) {
            return Err(if c.is_empty() {
                "the repository path has an empty component".into()
            } else {
                format!(
                    "`{c}` is not a repository path component (a-z 0-9, separated by one `.`, one or two `_`, or `-`s)"
                )
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn component_ok(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// input, registry, repository, tag as written, digest, canonical
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );

    #[test]
    fn table_of_accepted_references() {
        let d = D;
        #[rustfmt::skip]
        let cases: &[Row] = &[
            ("alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io", "library/alpine", Some("3.20"), None, "docker.io/library/alpine:3.20"),
            ("linuxkit/getty:v1", "docker.io", "linuxkit/getty", Some("v1"), None, "docker.io/linuxkit/getty:v1"),
            ("docker.io/linuxkit/getty:v1", "docker.io", "linuxkit/getty", Some("v1"), None, "docker.io/linuxkit/getty:v1"),
            ("index.docker.io/library/busybox:1", "docker.io", "library/busybox", Some("1"), None, "docker.io/library/busybox:1"),
            ("docker.io/busybox", "docker.io", "library/busybox", None, None, "docker.io/library/busybox:latest"),
            ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", Some("t"), None, "127.0.0.1:5000/a/b:t"),
            ("localhost/x", "localhost", "x", None, None, "localhost/x:latest"),
            ("quay.io/prometheus/node-exporter:v1.8.2", "quay.io", "prometheus/node-exporter", Some("v1.8.2"), None, "quay.io/prometheus/node-exporter:v1.8.2"),
            ("ghcr.io/a/b__c/d-e--f/g.h_i", "ghcr.io", "a/b__c/d-e--f/g.h_i", None, None, "ghcr.io/a/b__c/d-e--f/g.h_i:latest"),
            ("[::1]:5000/x:Tag_1", "[::1]:5000", "x", Some("Tag_1"), None, "[::1]:5000/x:Tag_1"),
            ("My-Registry.example:443/x", "My-Registry.example:443", "x", None, None, "My-Registry.example:443/x:latest"),
            ("stackwright.local/kubelet:1.36.0", "stackwright.local", "kubelet", Some("1.36.0"), None, "stackwright.local/kubelet:1.36.0"),
        ];
        for (input, registry, repository, tag, digest, canonical) in cases {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.registry(), *registry, "{input}");
            assert_eq!(r.repository(), *repository, "{input}");
            assert_eq!(r.tag(), *tag, "{input}");
            assert_eq!(r.digest(), *digest, "{input}");
            assert_eq!(r.canonical(), *canonical, "{input}");
            assert_eq!(r.original(), *input);
        }
        let r = ImageRef::parse(&format!("localhost:5000/x:v@{d}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("v"), Some(d)));
        assert_eq!(r.canonical(), format!("localhost:5000/x:v@{d}"));
        let r = ImageRef::parse(&format!("ghcr.io/x@{d}")).unwrap();
        assert_eq!((r.tag(), r.tag_or_default()), (None, None));
        assert_eq!(r.canonical(), format!("ghcr.io/x@{d}"));
        assert!(ImageRef::parse("stackwright.local/x:1").unwrap().is_local());
        assert!(!ImageRef::parse("alpine").unwrap().is_local());
    }

    #[test]
    fn table_of_refused_references() {
        let long = format!("a/{}", "b".repeat(254));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("a b", "contains ' '"),
            ("UPPER/case", "lowercase"),
            ("Alpine", "lowercase"),
            ("docker.io/Library/alpine", "lowercase"),
            ("x@sha256:abc", "64 lowercase hex"),
            ("x@sha512:abc", "only sha256"),
            (
                &format!("x@{}", D.to_uppercase().replace("SHA256", "sha256")),
                "64 lowercase hex",
            ),
            ("x@", "sha256:"),
            ("/x", "empty component"),
            ("x/", "empty component"),
            ("a//b", "empty component"),
            ("x:", "tag after `:` is empty"),
            ("x:-t", "not 1 to 128"),
            (&format!("x:{}", "t".repeat(129)), "not 1 to 128"),
            ("x:a/b", "registry host"),
            ("-x", "path component"),
            ("x-", "path component"),
            ("a..b", "path component"),
            ("a___b", "path component"),
            ("bad_host.io:x/y", "registry host"),
            ("-bad.io/y", "registry host"),
            ("[zz:1]/y", "registry host"),
            (&long, "longer than 255"),
            (&"a".repeat(64), "64 hex digits"),
        ];
        for (input, why) in cases {
            match ImageRef::parse(input) {
                Ok(r) => panic!("{input:?} should be refused, got {r:?}"),
                Err(e) => assert!(e.to_string().contains(why), "{input:?}: {e} (want {why:?})"),
            }
        }
    }

    #[test]
    fn default_tag_and_pinning() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.tag_or_default(), Some("latest"));
        assert!(!r.has_tag_or_digest());
        assert_eq!(r.pinned(D), format!("alpine:latest@{D}"));
        let r = ImageRef::parse("linuxkit/getty:v1").unwrap();
        assert!(r.has_tag_or_digest());
        assert_eq!(r.pinned(D), format!("linuxkit/getty:v1@{D}"));
        let r = ImageRef::parse("127.0.0.1:5000/a/b:t").unwrap();
        assert_eq!(r.pinned(D), format!("127.0.0.1:5000/a/b:t@{D}"));
        // A port is not a tag.
        let r = ImageRef::parse("localhost:5000/x").unwrap();
        assert_eq!(r.pinned(D), format!("localhost:5000/x:latest@{D}"));
        let r = ImageRef::parse(&format!("ghcr.io/x@{D}")).unwrap();
        assert_eq!(r.pinned(D), format!("ghcr.io/x@{D}"));
        // `alpine` and `alpine:latest` are one image; another spelling of the registry too.
        assert_eq!(
            ImageRef::parse("alpine").unwrap().canonical(),
            ImageRef::parse("index.docker.io/library/alpine:latest")
                .unwrap()
                .canonical()
        );
        assert_eq!(
            ImageRef::parse("quay.io/prometheus/node-exporter:v1")
                .unwrap()
                .short_name(),
            "node-exporter"
        );
    }
}
