//! Image references, normalised the way the OCI distribution rules (and LinuxKit's
//! `ReferenceExpand`) read them, so `linuxkit/getty:abc` and
//! `docker.io/linuxkit/getty:abc` name one repository.

/// An image reference split into its parts. The repository is normalised (`docker.io`
/// default, `library/` for official images); tag and digest are kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io/linuxkit/getty`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> ImageRef {
        let s = s.trim();
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (s, None),
        };
        // A `:` after the last `/` is a tag; one before it is a registry port.
        let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_string())),
            None => (name, None),
        };
        ImageRef {
            repository: normalise_repository(repo),
            tag,
            digest,
        }
    }

    /// The repository and tag/digest, normalised: two references are the same image when
    /// this is equal.
    pub fn canonical(&self) -> String {
        let mut s = self.repository.clone();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The last path component of the repository (`getty` for `docker.io/linuxkit/getty`).
    pub fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The repository path without its registry host (`linuxkit/getty`).
    pub fn path(&self) -> &str {
        self.repository
            .split_once('/')
            .map(|(_, p)| p)
            .unwrap_or(&self.repository)
    }
}

fn normalise_repository(repo: &str) -> String {
    let repo = repo.to_ascii_lowercase();
    let (host, path) = match repo.split_once('/') {
        // The first component is a registry host only if it looks like one.
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), repo.clone()),
    };
    let host = match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host,
    };
    let path = if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    format!("{host}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults() {
        let a = ImageRef::parse("linuxkit/getty:abc");
        let b = ImageRef::parse("docker.io/linuxkit/getty:abc");
        assert_eq!(a, b);
        assert_eq!(
            ImageRef::parse("alpine:3.20").repository,
            "docker.io/library/alpine"
        );
        assert_eq!(
            ImageRef::parse("index.docker.io/library/alpine").repository,
            "docker.io/library/alpine"
        );
    }

    #[test]
    fn ports_tags_and_digests() {
        let r = ImageRef::parse("localhost:5000/x/y:1.2@sha256:abcd");
        assert_eq!(r.repository, "localhost:5000/x/y");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abcd"));
        let r = ImageRef::parse("localhost:5000/x");
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/x", None));
        assert_eq!(
            ImageRef::parse("quay.io/prometheus/node-exporter:v1").short_name(),
            "node-exporter"
        );
    }
}
