//! Versions and version ranges, as users write them.
//!
//! Versions are semver. Users (and upstream projects) often write `5.10` or `v1.36`;
//! [`parse_version`] accepts those by padding missing parts, so a kernel floor can be
//! written the way kernel people write it. Ranges are `semver::VersionReq`.

use semver::{Version, VersionReq};

/// Parses `1.2.3`, `1.2`, `1`, with an optional leading `v`, and pre-release/build parts.
pub fn parse_version(s: &str) -> Result<Version, String> {
    let t = s.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    if t.is_empty() {
        return Err("empty version".into());
    }
    if let Ok(v) = Version::parse(t) {
        return Ok(v);
    }
    // Pad the numeric core to three parts, keeping any -pre/+build suffix.
    let cut = t.find(['-', '+']).unwrap_or(t.len());
    let (core, rest) = t.split_at(cut);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "`{s}` is not a version (expected MAJOR.MINOR.PATCH, e.g. 1.36.4)"
        ));
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    padded.push_str(rest);
    Version::parse(&padded).map_err(|e| format!("`{s}` is not a version: {e}"))
}

/// Parses a semver requirement (`*`, `^1.7`, `>=1.6, <2`, `~1.36`). As in Cargo, a bare
/// version such as `1.36.4` means `^1.36.4`; write `=1.36.4` for exactly that version.
pub fn parse_req(s: &str) -> Result<VersionReq, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty version range (use \"*\" for any version)".into());
    }
    VersionReq::parse(t).map_err(|e| {
        format!("`{s}` is not a version range: {e} (examples: \"*\", \"^1.7\", \">=1.6, <2\")")
    })
}

/// Whether `v` satisfies `req`, treating pre-release and build-tagged versions the way
/// component catalogs use them: `0.0.0+b5506cc7` (a content-hash tag) is an ordinary
/// release, and a pre-release matches a range whose bounds it lies between.
pub fn matches(req: &VersionReq, v: &Version) -> bool {
    if req.matches(v) {
        return true;
    }
    if v.pre.is_empty() {
        return false;
    }
    // semver's rule hides pre-releases from ranges that do not mention them; for a
    // platform catalog "6.6.71-rt" is still a 6.6 kernel.
    let mut plain = v.clone();
    plain.pre = semver::Prerelease::EMPTY;
    req.matches(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_short_versions() {
        assert_eq!(parse_version("5.10").unwrap(), Version::new(5, 10, 0));
        assert_eq!(parse_version("v1").unwrap(), Version::new(1, 0, 0));
        assert_eq!(parse_version("1.36.4+k3s1").unwrap().build.as_str(), "k3s1");
        assert_eq!(parse_version("6.6+rt").unwrap().to_string(), "6.6.0+rt");
        assert!(parse_version("latest").is_err());
        assert!(parse_version("1.2.3.4").is_err());
        assert!(parse_version("99999999999999999999999.1.1").is_err());
    }

    #[test]
    fn build_metadata_matches_star() {
        let v = parse_version("0.0.0+b5506cc7").unwrap();
        assert!(matches(&parse_req("*").unwrap(), &v));
    }

    #[test]
    fn prerelease_matches_when_core_matches() {
        let v = parse_version("6.6.71-rt").unwrap();
        assert!(matches(&parse_req(">=5.10").unwrap(), &v));
    }
}
