//! LinuxKit's YAML model (`linuxkit build`'s input), as in LinuxKit's schema
//! (`../shared/linuxkit/schema.json`). Rendering writes it; import reads it.

use serde::{Deserialize, Serialize};

use crate::container::{Container, IdOrName};

/// A whole LinuxKit configuration. Sections keep LinuxKit's order when serialized.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Kernel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onboot: Vec<Image>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onshutdown: Vec<Image>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Trust>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucode: Option<String>,
}

/// An onboot, service or onshutdown entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub name: String,
    pub image: String,
    #[serde(flatten)]
    pub container: Container,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Vec<String>>,
}

/// A `files` entry: exactly one of contents/source/metadata, unless a directory or symlink.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<IdOrName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<IdOrName>,
}

impl File {
    /// LinuxKit's rule for an entry, as an error message if broken.
    pub fn check(&self) -> Result<(), String> {
        if self.path.is_empty() {
            return Err("`path` is empty".into());
        }
        if self.path.starts_with('/') {
            return Err(format!(
                "`{}` is absolute; files paths are relative to the image root",
                self.path
            ));
        }
        if self.path.split('/').any(|c| c == "..") {
            return Err(format!(
                "`{}` climbs out of the image root with `..`",
                self.path
            ));
        }
        let sources = [
            self.contents.is_some(),
            self.source.is_some(),
            self.metadata.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let dir = self.directory == Some(true);
        let link = self.symlink.is_some();
        if dir && link {
            return Err("an entry cannot be both a directory and a symlink".into());
        }
        if (dir || link) && sources > 0 {
            return Err("a directory or symlink takes no contents, source or metadata".into());
        }
        if sources > 1 {
            return Err("give only one of `contents`, `source` and `metadata`".into());
        }
        if !dir && !link && sources == 0 {
            return Err(
                "give one of `contents`, `source` or `metadata` (or `directory = true`)".into(),
            );
        }
        if let Some(m) = &self.mode {
            let digits = m.strip_prefix('0').unwrap_or(m);
            if m.is_empty() || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) || digits.len() > 4 {
                return Err(format!("mode `{m}` is not an octal mode such as \"0644\""));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<String>>,
}

/// An integer in Go's `strconv.ParseInt(s, 0, 64)` syntax, as yaml.v3 resolves plain
/// scalars: optional sign, `0x`/`0o`/`0b` or a leading `0` (octal), `_` between digits.
pub fn go_integer(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    // from_str_radix would take a sign here too: `0-1` is a string to yaml.v3.
    if digits.is_empty()
        || !digits
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Whether LinuxKit's YAML reader (yaml.v3) takes this unquoted scalar for an integer
/// (`0644`, `1_000`, `0x1F`). serde_yaml writes some of these unquoted (`1_000`, `0b1`), so
/// a writer of `linuxkit.yml` must quote such strings itself.
pub fn reads_as_integer(plain: &str) -> bool {
    go_integer(plain).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers() {
        assert_eq!(go_integer("0644"), Some(420));
        assert_eq!(go_integer("-0o17"), Some(-15));
        assert_eq!(go_integer("0x1F"), Some(31));
        assert_eq!(go_integer("1_000"), Some(1000));
        assert_eq!(go_integer("0b101"), Some(5));
        assert_eq!(go_integer("0089"), None);
        assert_eq!(go_integer("00-final"), None);
        assert_eq!(go_integer("web"), None);
        assert_eq!(go_integer("_1"), None);
        assert_eq!(go_integer("0-1"), None);
        assert_eq!(go_integer("-"), None);
        assert!(reads_as_integer("1_0") && !reads_as_integer("1.0"));
    }

    #[test]
    fn files_rules() {
        let f = |c: Option<&str>, s: Option<&str>| File {
            path: "etc/x".into(),
            contents: c.map(Into::into),
            source: s.map(Into::into),
            ..Default::default()
        };
        assert!(f(Some("a"), None).check().is_ok());
        assert!(f(Some("a"), Some("b")).check().is_err());
        assert!(f(None, None).check().is_err());
        let mut up = f(Some("a"), None);
        up.path = "../etc".into();
        assert!(up.check().is_err());
    }
}
