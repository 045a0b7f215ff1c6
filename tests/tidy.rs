//! Tidy checks, as tests (rust-analyzer's `tidy.rs` is the model): rules about the repository
//! itself that reviews would otherwise have to remember.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every file under `dir` with one of `exts`, skipping build output and VCS data.
fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "out" {
            continue;
        }
        if p.is_dir() {
            files(&p, exts, out);
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

#[test]
fn diagnostics_md_is_the_code_list() {
    let path = root().join("docs/diagnostics.md");
    let on_disk = std::fs::read_to_string(&path).expect("docs/diagnostics.md");
    let wanted = stackwright::types::diagnostic::diagnostics_document();
    assert!(
        on_disk == wanted,
        "docs/diagnostics.md is not the code list in stackwright-types/src/diagnostic.rs: run `cargo xtask docs` and commit the result"
    );
}

/// The product contract's content lives in our own docs; nothing links outside the repository,
/// and every relative Markdown link resolves to a file that exists.
#[test]
fn markdown_links_stay_inside_the_repository_and_resolve() {
    let root = root();
    let mut mds = Vec::new();
    files(&root, &[".md"], &mut mds);
    let mut problems = Vec::new();
    for md in &mds {
        let text = std::fs::read_to_string(md).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("](") {
                let after = &rest[i + 2..];
                let Some(end) = after.find(')') else { break };
                let target = &after[..end];
                rest = &after[end..];
                if target.contains("://")
                    || target.starts_with('#')
                    || target.starts_with("mailto:")
                {
                    continue;
                }
                let file = target.split('#').next().unwrap_or("");
                if file.is_empty() {
                    continue;
                }
                let resolved = md.parent().unwrap_or(&root).join(file);
                let shown = md.strip_prefix(&root).unwrap_or(md).display().to_string();
                match resolved.canonicalize() {
                    Ok(p) if p.starts_with(root.canonicalize().unwrap_or(root.clone())) => {}
                    Ok(_) => problems.push(format!(
                        "{shown}:{}: `{target}` points outside the repository — write the content into docs/ instead",
                        n + 1
                    )),
                    Err(_) => problems.push(format!(
                        "{shown}:{}: `{target}` does not exist",
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The product contract is restated in docs/ (assembly-format.md, manifest-format.md); the
/// user-facing documents never send readers to a file outside the repository.
#[test]
fn user_docs_do_not_point_at_the_contract_file() {
    let root = root();
    let mut docs = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    files(&root.join("docs"), &[".md"], &mut docs);
    let mut problems = Vec::new();
    for f in &docs {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.contains("SPEC.md") || line.contains("SPEC §") {
                let shown = f.strip_prefix(&root).unwrap_or(f).display();
                problems.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "refer to our own docs (docs/assembly-format.md …) instead of the contract file:\n{}",
        problems.join("\n")
    );
}

/// Every crate opts into the workspace lints (`[lints] workspace = true`), so `print_stdout`,
/// `unsafe_code` and the rest are enforced everywhere, new crates included.
#[test]
fn every_crate_uses_the_workspace_lints() {
    let root = root();
    let mut manifests = vec![root.join("xtask/Cargo.toml"), root.join("tests/Cargo.toml")];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            let m = e.path().join("Cargo.toml");
            if m.is_file() {
                manifests.push(m);
            }
        }
    }
    let missing: Vec<String> = manifests
        .iter()
        .filter(|m| {
            let text = std::fs::read_to_string(m).unwrap_or_default();
            let Ok(doc) = text.parse::<toml::Table>() else {
                return true;
            };
            doc.get("lints")
                .and_then(|l| l.get("workspace"))
                .and_then(|w| w.as_bool())
                != Some(true)
        })
        .map(|m| m.strip_prefix(&root).unwrap_or(m).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "add `[lints]\\nworkspace = true` to: {}",
        missing.join(", ")
    );
}

/// Every `[workspace.dependencies]` entry is used (`name.workspace = true`) by some
/// member: a dependency nobody declares any more leaves the table with its last user.
#[test]
fn every_workspace_dependency_is_used() {
    let root = root();
    let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let declared: Vec<String> = doc["workspace"]["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut manifests = vec![root.join("xtask/Cargo.toml"), root.join("tests/Cargo.toml")];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            let m = e.path().join("Cargo.toml");
            if m.is_file() {
                manifests.push(m);
            }
        }
    }
    let mut used = std::collections::BTreeSet::new();
    for m in &manifests {
        let member: toml::Table = std::fs::read_to_string(m).unwrap().parse().unwrap();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = member.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for (name, spec) in deps {
                if spec.get("workspace").and_then(|w| w.as_bool()) == Some(true) {
                    used.insert(name.clone());
                }
            }
        }
    }
    let unused: Vec<&String> = declared.iter().filter(|d| !used.contains(*d)).collect();
    assert!(
        unused.is_empty(),
        "[workspace.dependencies] entries no member uses (remove them): {unused:?}"
    );
}

/// The two containerd daemons (packaged and LinuxKit's) generate config.toml from one
/// template: a change to one must be made to both.
#[test]
fn both_containerd_daemons_generate_config_toml_from_the_same_template() {
    let template = |file: &str| {
        let text = std::fs::read_to_string(root().join("components/runtime").join(file)).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        value["generate"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g.get("path").and_then(|p| p.as_str()) == Some("etc/containerd/config.toml"))
            .and_then(|g| g.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{file} generates no etc/containerd/config.toml"))
    };
    assert_eq!(
        template("containerd.toml"),
        template("linuxkit-containerd.toml")
    );
}
