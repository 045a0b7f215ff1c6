//! LinuxKit's per-image fields → OCI `config.json`/`runtime.json`, one rule a case.
//!
//! Every folder under the repository's `tests/linuxkit-oci/` holds:
//! - `rule`: the rule, citing the line of LinuxKit's `moby/config.go` it comes from;
//! - `container.json`: the image entry's fields, as in linuxkit.yml;
//! - `image.json`: the image's config (`Entrypoint`, `Cmd`, `Labels`, …);
//! - `ids.json` (optional): container names → ids, as LinuxKit numbers them;
//! - `config.json`: the expected config, written by hand from the rule — or `error`:
//!   a text the refusal must contain;
//! - `runtime.json` (optional): the expected runtime config.
//!
//! The comparison is field by field (JSON values, not bytes). A new rule is a new folder.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stackwright_build::spec::{bundle_config, IdResolver};
use stackwright_types::container::Container;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/linuxkit-oci");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "expected the rule cases under {}",
        root.display()
    );
    v
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

fn json_of(dir: &Path, name: &str) -> Option<Value> {
    read(dir, name).map(|s| {
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
    })
}

/// Paths where `got` and `want` differ, for a readable failure.
fn differences(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for k in g
                .keys()
                .chain(w.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let p = format!("{path}/{k}");
                match (g.get(k), w.get(k)) {
                    (Some(a), Some(b)) => differences(&p, a, b, out),
                    (Some(a), None) => out.push(format!("{p}: unexpected {a}")),
                    (None, Some(b)) => out.push(format!("{p}: missing, want {b}")),
                    (None, None) => {}
                }
            }
        }
        _ if got != want => out.push(format!("{path}: got {got}, want {want}")),
        _ => {}
    }
}

#[test]
fn every_linuxkit_rule_holds() {
    let mut failures = Vec::new();
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(read(&dir, "rule").is_some(), "{name}: no `rule` file");
        let container: Container =
            serde_json::from_value(json_of(&dir, "container.json").expect("container.json"))
                .unwrap_or_else(|e| panic!("{name}/container.json: {e}"));
        let image = json_of(&dir, "image.json").expect("image.json");
        let image = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": image,
        }))
        .unwrap_or_else(|e| panic!("{name}/image.json: {e}"));
        let ids = IdResolver {
            containers: json_of(&dir, "ids.json")
                .map(|v| serde_json::from_value(v).expect("ids.json: name → id"))
                .unwrap_or_default(),
            ..Default::default()
        };
        let result = bundle_config(&image, &container, &ids);
        match (read(&dir, "error"), result) {
            (Some(want), Err(got)) => {
                if !got.contains(want.trim()) {
                    failures.push(format!(
                        "{name}: refused with `{got}`, want `{}`",
                        want.trim()
                    ));
                }
            }
            (Some(want), Ok(_)) => {
                failures.push(format!("{name}: accepted, want refusal `{}`", want.trim()))
            }
            (None, Err(e)) => failures.push(format!("{name}: refused: {e}")),
            (None, Ok(b)) => {
                let mut diff = Vec::new();
                let want = json_of(&dir, "config.json").expect("config.json or error");
                // The bytes are the canonical form of the same value.
                let bytes: Value = serde_json::from_slice(&b.config_json().unwrap()).unwrap();
                differences("config.json", &bytes, &want, &mut diff);
                if let Some(want) = json_of(&dir, "runtime.json") {
                    differences("runtime.json", &b.runtime, &want, &mut diff);
                }
                for d in diff {
                    failures.push(format!("{name}: {d}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rules broken:\n{}",
        failures.join("\n")
    );
}
