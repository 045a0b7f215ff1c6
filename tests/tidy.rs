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

/// The manifest of every workspace member, from the root manifest's `workspace.members`
/// (an entry ending in `/*` is every folder in it with a `Cargo.toml`).
fn member_manifests(root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let mut manifests = Vec::new();
    for member in doc["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        if let Some(dir) = member.strip_suffix("/*") {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .flatten()
                .map(|e| e.path().join("Cargo.toml"))
                .filter(|m| m.is_file())
                .collect();
            found.sort();
            manifests.extend(found);
        } else {
            manifests.push(root.join(member).join("Cargo.toml"));
        }
    }
    manifests
}

/// Every crate opts into the workspace lints (`[lints] workspace = true`), so `print_stdout`,
/// `unsafe_code` and the rest are enforced everywhere, new crates included.
#[test]
fn every_crate_uses_the_workspace_lints() {
    let root = root();
    let manifests = member_manifests(&root);
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
    let manifests = member_manifests(&root);
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

/// The longest function body (its lines from `{` to `}`) allowed in `crates/` and `xtask/`.
const FN_LINES: usize = 140;

/// Every function in `crates/` and `xtask/` (free functions, methods, trait methods with a
/// default body, functions nested in other functions) has a body of at most [`FN_LINES`]
/// lines: a longer one becomes named steps. The source is parsed with `syn`, so braces in
/// strings, comments and macros do not confuse the count. Test code is exempt: files under a
/// `tests/` directory, `#[cfg(test)]` items (modules included) and `#[test]` functions.
#[test]
fn no_function_is_longer_than_the_limit() {
    let root = root();
    let mut sources = Vec::new();
    files(&root.join("crates"), &[".rs"], &mut sources);
    files(&root.join("xtask"), &[".rs"], &mut sources);
    let mut problems = Vec::new();
    for path in &sources {
        let shown = path.strip_prefix(&root).unwrap_or(path);
        if shown.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        match long_functions(&text, FN_LINES) {
            Ok(found) => problems.extend(found.into_iter().map(|(name, line, lines)| {
                format!(
                    "{}:{line}: fn {name} has a body of {lines} lines (at most {FN_LINES}): split it into named steps",
                    shown.display()
                )
            })),
            Err(e) => problems.push(format!("{}: does not parse: {e}", shown.display())),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker itself: a body one line over the limit is found (with its name and line),
/// one at the limit is not, and braces inside strings, raw strings, chars and comments are
/// not counted; test code is skipped.
#[test]
fn the_function_length_check_finds_a_long_function() {
    let body = |n: usize| "    let _ = 1;\n".repeat(n - 2);
    let src = format!(
        "//! x\nfn short() {{\n{}}}\nimpl S {{\n    fn long(&self) {{\n{}    let _ = \"}}}}\";\n    let _ = r#\"{{\"#; // }}\n    let _ = '}}'; /* }} */\n    }}\n}}\n#[cfg(test)]\nmod t {{ fn long_test() {{\n{}}} }}\n",
        body(10),
        body(10 - 3),
        body(10),
    );
    assert_eq!(
        long_functions(&src, 9).unwrap(),
        vec![("short".to_string(), 2, 10), ("long".to_string(), 13, 10)]
    );
    assert_eq!(long_functions(&src, 10).unwrap(), vec![]);
    assert!(long_functions("fn broken( {", 10).is_err());
}

/// The functions of a source file whose bodies are longer than `limit` lines, as (name,
/// line of the opening brace, lines), in source order; test code skipped.
fn long_functions(text: &str, limit: usize) -> Result<Vec<(String, usize, usize)>, syn::Error> {
    use syn::visit::Visit;

    struct Finder {
        limit: usize,
        found: Vec<(String, usize, usize)>,
    }
    impl Finder {
        fn body(&mut self, name: &syn::Ident, block: &syn::Block) {
            let open: proc_macro2::LineColumn = block.brace_token.span.open().start();
            let close = block.brace_token.span.close().end();
            let lines = close.line - open.line + 1;
            if lines > self.limit {
                self.found.push((name.to_string(), open.line, lines));
            }
        }
    }
    fn is_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|a| {
            let path = a.path();
            if path.segments.last().is_some_and(|s| s.ident == "test") {
                return true;
            }
            let syn::Meta::List(list) = &a.meta else {
                return false;
            };
            let cfg: String = list
                .tokens
                .to_string()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            path.is_ident("cfg") && (cfg == "test" || cfg.starts_with("all(test,"))
        })
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
            if !is_test(&m.attrs) {
                syn::visit::visit_item_mod(self, m);
            }
        }
        fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
            if !is_test(&i.attrs) {
                syn::visit::visit_item_impl(self, i);
            }
        }
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            if !is_test(&f.attrs) {
                self.body(&f.sig.ident, &f.block);
                syn::visit::visit_item_fn(self, f);
            }
        }
        fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
            if !is_test(&f.attrs) {
                self.body(&f.sig.ident, &f.block);
                syn::visit::visit_impl_item_fn(self, f);
            }
        }
        fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
            if let Some(block) = &f.default {
                if !is_test(&f.attrs) {
                    self.body(&f.sig.ident, block);
                }
            }
            syn::visit::visit_trait_item_fn(self, f);
        }
    }
    let file = syn::parse_file(text)?;
    let mut finder = Finder {
        limit,
        found: Vec::new(),
    };
    finder.visit_file(&file);
    Ok(finder.found)
}
