//! Facts of the built-in components, checked by assembling small assemblies: every folder
//! under `truths/` holds an `assembly.toml` and an `expect` file, one claim a line:
//!
//! ```text
//! assembles                  # the assembly resolves and validates (warnings allowed)
//! refused SW0401             # it is refused with an error of this code
//! has pause 3.10.1           # this component is chosen (at this version, if given)
//! lacks containerd           # this component is not part of the platform
//! quiet SW0510 swarmkit      # no diagnostic of this code mentions this word
//! ```
//!
//! A new fact is a new folder. Lines starting with `#` and blank lines are ignored. Each
//! folder's `why` line (`# why: …`) says which upstream fact it pins.
//!
//! Also here: the data rule that a component claiming `verified = true` cites its sources.

use std::path::{Path, PathBuf};

use stackwright::types::diagnostic::render_all;

fn cases() -> Vec<PathBuf> {
    stackwright_tests::case_dirs("truths")
}

#[test]
fn every_truth_holds() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let rel = Path::new("truths").join(&name);
        let expect = std::fs::read_to_string(rel.join("expect"))
            .unwrap_or_else(|e| panic!("truths/{name}/expect: {e}"));
        let result =
            stackwright::Assembler::new().assemble_file_blocking(&rel.join("assembly.toml"));
        let mut claims = 0;
        for line in expect.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            claims += 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            let fail = |why: String| format!("truths/{name}: `{line}`: {why}");
            match (words[0], &result) {
                ("assembles", Ok(_)) => {}
                ("assembles", Err(e)) => {
                    failures.push(fail(format!("refused:\n{}", render_all(&e.diagnostics()))))
                }
                ("refused", Ok(_)) => failures.push(fail("it assembled".into())),
                ("refused", Err(e)) => {
                    let code = words.get(1).copied().unwrap_or("");
                    let diags = e.diagnostics();
                    if !diags.iter().any(|d| d.is_error() && d.code.0 == code) {
                        failures.push(fail(format!("no {code} among:\n{}", render_all(&diags))));
                    }
                }
                ("has" | "lacks" | "quiet", Err(e)) => {
                    failures.push(fail(format!("refused:\n{}", render_all(&e.diagnostics()))))
                }
                ("has", Ok(a)) => match a.resolution.components.get(words[1]) {
                    None => failures.push(fail("not chosen".into())),
                    Some(c) => {
                        if let Some(v) = words.get(2) {
                            if c.version.to_string() != *v {
                                failures.push(fail(format!("chose {}", c.version)));
                            }
                        }
                    }
                },
                ("lacks", Ok(a)) => {
                    if let Some(c) = a.resolution.components.get(words[1]) {
                        let why: Vec<String> = c.why.iter().map(|w| w.summary()).collect();
                        failures.push(fail(format!("chosen ({}: {})", c.version, why.join("; "))));
                    }
                }
                ("quiet", Ok(a)) => {
                    let (code, word) = (words[1], words[2]);
                    for d in a.warnings() {
                        if d.code.0 == code && d.message.contains(word) {
                            failures.push(fail(d.message.clone()));
                        }
                    }
                }
                (other, _) => panic!("truths/{name}: unknown claim `{other}`"),
            }
        }
        assert!(claims > 0, "truths/{name}/expect makes no claim");
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// A component may claim `verified = true` only when it says where its facts come from:
/// at least one `https://` source. A version seen only pinned in other people's files
/// ("Evidence: seen-pinned") is not a source: such a component either cites a release
/// page, a checksum list or a release-notes file, or is `verified = false`.
#[test]
fn verified_components_cite_sources() {
    let registry = stackwright::RegistryBuilder::with_builtin()
        .build()
        .unwrap();
    let mut bad = Vec::new();
    for m in registry.manifests() {
        if !m.verified {
            if m.unverified.is_empty() {
                bad.push(format!(
                    "{}: verified = false but `unverified` says nothing",
                    m.id
                ));
            }
            continue;
        }
        if m.sources.is_empty() {
            bad.push(format!("{}: verified = true with no sources", m.id));
        }
        for s in &m.sources {
            if !s.starts_with("https://") {
                bad.push(format!("{}: source `{s}` is not an https:// address", m.id));
            }
        }
        let seen_pinned_only = m
            .notes
            .as_deref()
            .is_some_and(|n| n.contains("seen-pinned"))
            && !m.sources.iter().any(|s| {
                s.contains("/releases") || s.contains("checksums.yml") || s.contains("RELEASES.md")
            });
        if seen_pinned_only {
            bad.push(format!(
                "{}: verified = true, but its version evidence is only `seen-pinned`: cite a release page or mark it unverified",
                m.id
            ));
        }
    }
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}
