//! Image references, normalized by the OCI distribution rules: `docker.io` is the
//! default registry and official images live under `library/`.

use crate::OciError;

/// A parsed image reference that remembers how the user spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    original: String,
    pub(crate) inner: oci_client::Reference,
}

impl ImageRef {
    /// Parses `name[:tag][@sha256:…]`. A bare name gets the `latest` tag.
    pub fn parse(s: &str) -> Result<ImageRef, OciError> {
        let inner: oci_client::Reference =
            s.parse()
                .map_err(|e: oci_client::ParseError| OciError::InvalidReference {
                    reference: s.to_string(),
                    reason: e.to_string(),
                })?;
        // The parser lets an upper-case first component through as a "domain" and then
        // files it under docker.io; Docker rejects such names, and so do we.
        if inner.repository().bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(OciError::InvalidReference {
                reference: s.to_string(),
                reason: "repository names must be lowercase".into(),
            });
        }
        if let Some(d) = inner.digest() {
            if !is_sha256_digest(d) {
                return Err(OciError::InvalidReference {
                    reference: s.to_string(),
                    reason: "only sha256 digests are supported".into(),
                });
            }
        }
        Ok(ImageRef {
            original: s.to_string(),
            inner,
        })
    }

    /// As written by the user.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// Whether this names an image Stackwright built and did not push
    /// (`stackwright.local/…`): it exists in the blob cache only.
    pub fn is_local(&self) -> bool {
        self.inner.registry() == stackwright_types::package::LOCAL_REGISTRY
    }

    /// The repository path, e.g. `library/alpine`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The fully qualified form, e.g. `docker.io/library/alpine:3.20` (with `@digest`
    /// when the reference carries one). Used as the `ref.name` in image layouts.
    pub fn canonical(&self) -> String {
        self.inner.whole()
    }

    /// The fully qualified name without tag or digest, e.g. `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// The user's spelling of the name and tag with `digest` attached:
    /// `linuxkit/getty:v1` → `linuxkit/getty:v1@sha256:…`. A reference with neither
    /// tag nor digest gets `:latest` (the tag that was resolved).
    pub fn pinned(&self, digest: &str) -> String {
        let base = self
            .original
            .split_once('@')
            .map_or(self.original.as_str(), |(n, _)| n);
        let last = base.rsplit('/').next().unwrap_or(base);
        if last.contains(':') || self.inner.tag().is_none() {
            format!("{base}@{digest}")
        } else {
            format!("{base}:{}@{digest}", self.inner.tag().unwrap_or("latest"))
        }
    }

    /// This image in the same repository, addressed by `digest`.
    pub(crate) fn by_digest(&self, digest: &str) -> oci_client::Reference {
        self.inner.clone_with_digest(digest.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_defaults() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/alpine");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.canonical(), "docker.io/library/alpine:latest");
        assert_eq!(r.pinned(D), format!("alpine:latest@{D}"));

        let r = ImageRef::parse("linuxkit/getty:v1").unwrap();
        assert_eq!(r.canonical(), "docker.io/linuxkit/getty:v1");
        assert_eq!(r.pinned(D), format!("linuxkit/getty:v1@{D}"));

        let r = ImageRef::parse("index.docker.io/library/busybox:1").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
    }

    #[test]
    fn registries_with_ports_and_digests() {
        let r = ImageRef::parse("127.0.0.1:5000/a/b:t").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.pinned(D), format!("127.0.0.1:5000/a/b:t@{D}"));

        let r = ImageRef::parse(&format!("localhost:5000/x:v@{D}")).unwrap();
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.tag(), Some("v"));
        assert_eq!(r.pinned(D), format!("localhost:5000/x:v@{D}"));

        let r = ImageRef::parse(&format!("ghcr.io/x@{D}")).unwrap();
        assert_eq!(r.pinned(D), format!("ghcr.io/x@{D}"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "UPPER/case", "a b", "x@sha256:abc", "/x", "x:"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
