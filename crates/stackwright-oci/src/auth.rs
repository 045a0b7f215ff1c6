//! Credentials from Docker's `config.json` (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`): the `auths` map with base64 `user:password` in `auth`
//! (or separate `username`/`password`). Credential helpers (`credsStore`,
//! `credHelpers`) are not run; their presence is remembered so a 401 can say why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::OciError;

/// A username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    // Never print the password, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The credentials found in a Docker config file, keyed by registry host.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_registry: BTreeMap<String, Credential>,
    /// The file they came from, for messages.
    pub source: Option<PathBuf>,
    /// Registries configured to use a credential helper, which this crate does not run.
    pub helper_registries: Vec<String>,
    /// `credsStore` is set: every registry without an inline `auth` would use a helper.
    pub has_creds_store: bool,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Credentials {
    /// No credentials at all: every registry is accessed anonymously.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Reads the default Docker config: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`. A missing file means no credentials.
    pub fn from_default_location() -> Result<Credentials, OciError> {
        match default_config_path() {
            Some(p) => Credentials::from_file(&p),
            None => Ok(Credentials::none()),
        }
    }

    /// Reads one Docker config file; a missing file means no credentials.
    pub fn from_file(path: &Path) -> Result<Credentials, OciError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials {
                    source: Some(path.to_path_buf()),
                    ..Credentials::default()
                })
            }
            Err(e) => return Err(OciError::io(path, e)),
        };
        Credentials::parse(&text, path)
    }

    /// Parses the text of a Docker config file (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Credentials, OciError> {
        let bad = |message: String| OciError::DockerConfig {
            path: path.to_path_buf(),
            message,
        };
        let file: ConfigFile = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut by_registry = BTreeMap::new();
        for (key, entry) in &file.auths {
            let cred = if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| bad(format!("auths.\"{key}\".auth is not base64: {e}")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| bad(format!("auths.\"{key}\".auth is not UTF-8")))?;
                let (u, p) = decoded
                    .split_once(':')
                    .ok_or_else(|| bad(format!("auths.\"{key}\".auth is not `user:password`")))?;
                Credential {
                    username: u.to_string(),
                    password: p.to_string(),
                }
            } else if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                Credential {
                    username: u.clone(),
                    password: p.clone(),
                }
            } else {
                // e.g. an entry that only marks a credsStore login, or an identitytoken.
                continue;
            };
            by_registry.insert(normalize_registry(key), cred);
        }
        Ok(Credentials {
            by_registry,
            source: Some(path.to_path_buf()),
            helper_registries: file
                .cred_helpers
                .keys()
                .map(|k| normalize_registry(k))
                .collect(),
            has_creds_store: file.creds_store.is_some(),
        })
    }

    /// Adds or replaces the credential for `registry` (tests, or a CLI flag).
    pub fn insert(&mut self, registry: &str, credential: Credential) {
        self.by_registry
            .insert(normalize_registry(registry), credential);
    }

    /// The credential for a registry host as written in an image reference.
    pub fn get(&self, registry: &str) -> Option<&Credential> {
        self.by_registry.get(&normalize_registry(registry))
    }

    pub(crate) fn registry_auth(&self, registry: &str) -> oci_client::secrets::RegistryAuth {
        match self.get(registry) {
            Some(c) => {
                oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone())
            }
            None => oci_client::secrets::RegistryAuth::Anonymous,
        }
    }

    /// A sentence for a 401: whether credentials were sent, and where they came from.
    pub(crate) fn hint_for(&self, registry: &str) -> String {
        let src = self.source.as_ref().map_or_else(
            || "a Docker config.json".to_string(),
            |p| p.display().to_string(),
        );
        let key = normalize_registry(registry);
        if self.get(registry).is_some() {
            format!("; the credentials for {key} in {src} were rejected")
        } else if self.helper_registries.contains(&key) || self.has_creds_store {
            format!(
                "; {src} names a credential helper for {key}, which stackwright does not run: \
                 put an `auths` entry with `auth` (base64 user:password) there instead"
            )
        } else {
            format!("; no credentials for {key} in {src} (run `docker login {key}` or add an `auths` entry)")
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/` → `host:5000`.
fn normalize_registry(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_in_docker_formats() {
        let text = r#"{
          "auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "127.0.0.1:5000": {"username": "u2", "password": "p2"},
            "ghcr.io": {}
          },
          "credHelpers": {"gcr.io": "gcloud"}
        }"#;
        let c = Credentials::parse(text, Path::new("/x/config.json")).unwrap();
        let hub = c.get("docker.io").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("user", "pa:ss")
        );
        assert_eq!(c.get("127.0.0.1:5000").unwrap().username, "u2");
        assert!(c.get("ghcr.io").is_none());
        assert!(c.hint_for("gcr.io").contains("credential helper"));
        assert!(c.hint_for("ghcr.io").contains("no credentials for ghcr.io"));
        assert!(c.hint_for("docker.io").contains("were rejected"));
        assert!(!format!("{hub:?}").contains("pa:ss"));
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let e = Credentials::parse(r#"{"auths": {"x": {"auth": "%%%"}}}"#, Path::new("/c.json"))
            .unwrap_err();
        assert!(
            e.to_string().contains("/c.json") && e.to_string().contains("base64"),
            "{e}"
        );
        assert!(Credentials::parse("not json", Path::new("/c.json")).is_err());
    }

    #[test]
    fn missing_file_is_no_credentials() {
        let c = Credentials::from_file(Path::new("/nonexistent/stackwright/config.json")).unwrap();
        assert!(c.get("docker.io").is_none());
    }
}
