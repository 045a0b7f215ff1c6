//! Image references are [`stackwright_types::reference::ImageRef`], the one parser of the
//! workspace (Docker's reference grammar, `docker.io` and `library/` by the distribution
//! rules); this module turns them into oci-client's references and their errors into
//! [`OciError`].

pub use stackwright_types::reference::{is_sha256_digest, ImageRef};

use crate::OciError;

/// [`ImageRef::parse`], with its refusal as [`OciError::InvalidReference`].
pub(crate) fn parse(s: &str) -> Result<ImageRef, OciError> {
    ImageRef::parse(s).map_err(|e| match e {
        stackwright_types::TypesError::InvalidReference { reference, reason } => {
            OciError::InvalidReference { reference, reason }
        }
        other => OciError::InvalidReference {
            reference: s.to_string(),
            reason: other.to_string(),
        },
    })
}

/// The reference oci-client asks a registry for: the tag (`latest` when none is written)
/// and the digest, as the reference carries them.
pub(crate) fn client_ref(image: &ImageRef) -> oci_client::Reference {
    let (registry, repository) = (image.registry().to_string(), image.repository().to_string());
    match (image.tag_or_default(), image.digest()) {
        (Some(t), Some(d)) => {
            oci_client::Reference::with_tag_and_digest(registry, repository, t.into(), d.into())
        }
        (Some(t), None) => oci_client::Reference::with_tag(registry, repository, t.into()),
        (None, Some(d)) => oci_client::Reference::with_digest(registry, repository, d.into()),
        // `tag_or_default` is `None` only when there is a digest.
        (None, None) => oci_client::Reference::with_tag(registry, repository, "latest".into()),
    }
}

/// This image in the same repository, addressed by `digest`.
pub(crate) fn by_digest(image: &ImageRef, digest: &str) -> oci_client::Reference {
    oci_client::Reference::with_digest(
        image.registry().to_string(),
        image.repository().to_string(),
        digest.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn client_references_keep_docker_hub_rules() {
        let r = parse("alpine").unwrap();
        assert_eq!(client_ref(&r).whole(), "docker.io/library/alpine:latest");
        assert_eq!(client_ref(&r).whole(), r.canonical());
        let r = parse(&format!("127.0.0.1:5000/a/b:t@{D}")).unwrap();
        assert_eq!(client_ref(&r).whole(), format!("127.0.0.1:5000/a/b:t@{D}"));
        assert_eq!(by_digest(&r, D).whole(), format!("127.0.0.1:5000/a/b@{D}"));
        let r = parse(&format!("ghcr.io/x@{D}")).unwrap();
        assert_eq!(client_ref(&r).whole(), format!("ghcr.io/x@{D}"));
    }

    #[test]
    fn refusals_are_oci_errors() {
        for bad in ["", "UPPER/case", "a b", "x@sha256:abc", "/x", "x:"] {
            assert!(
                matches!(parse(bad), Err(OciError::InvalidReference { .. })),
                "{bad:?} should be refused"
            );
        }
    }
}
