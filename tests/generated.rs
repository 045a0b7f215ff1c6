//! Generated configuration, case by case: every folder under `generated/` is an assembly
//! (`assembly.toml`) and the needles its outputs must (or, with `!`, must not) contain
//! (`expect.txt`), searched over every output file as `grep -r` over `out/` would. The
//! generated files themselves are snapshots (`generated-<case>`).

use std::path::Path;

#[test]
fn generated_configuration_reaches_the_outputs() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    for case in stackwright_tests::case_dirs("generated") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let rel = Path::new("generated").join(&name);
        let a = stackwright::Assembler::new()
            .assemble_file(&rel.join("assembly.toml"))
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: {}",
                    stackwright::types::diagnostic::render_all(&e.diagnostics())
                )
            });
        let out = a.outputs().unwrap_or_else(|e| panic!("{name}: {e}"));
        let all: String = out
            .values()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let expect = std::fs::read_to_string(rel.join("expect.txt")).unwrap();
        let mut checked = 0;
        for line in expect.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            checked += 1;
            match line.strip_prefix('!') {
                Some(no) => assert!(!all.contains(no), "{name}: `{no}` is in the output"),
                None => assert!(
                    all.contains(line),
                    "{name}: `{line}` is not in the output:\n{}",
                    String::from_utf8_lossy(&out["linuxkit.yml"])
                ),
            }
        }
        assert!(checked > 0, "{name}: expect.txt checks nothing");
        insta::assert_snapshot!(
            format!("generated-{name}"),
            stackwright_tests::generated_files(&a)
        );
    }
}

#[test]
fn the_worked_example_is_the_one_in_the_docs() {
    let doc = include_str!("../docs/manifest-format.md");
    let ours = include_str!("generated/worked-example/components/my-agent.toml");
    let i = doc.find("### Worked example").unwrap();
    let start = doc[i..].find("```toml\n").unwrap() + i + 8;
    let end = doc[start..].find("```").unwrap() + start;
    let doc_manifest = &doc[start..end];
    // Only the `requires` line differs (the test platform has LinuxKit's init).
    let ours: String = ours
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("requires = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(ours, doc_manifest);
}

/// Every generated file of every case, with the case's name.
fn generated(case_filter: impl Fn(&str) -> bool) -> Vec<(String, String, String)> {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut all = Vec::new();
    for case in stackwright_tests::case_dirs("generated") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let a = stackwright::Assembler::new()
            .assemble_file(&Path::new("generated").join(&name).join("assembly.toml"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (f, from) in &a.validated.files {
            if from != "assembly" && case_filter(&f.path) {
                let body = f.contents.clone().unwrap_or_default();
                all.push((name.clone(), f.path.clone(), body));
            }
        }
    }
    all
}

/// Every leaf of `ours` (a table path and its value) must be in `theirs` with the same
/// value: what the daemon's own dump shows is what it read, so a key at the wrong place
/// or of the wrong type (dropped or refused by containerd) fails here.
fn leaves_echoed(ours: &toml::Value, theirs: &toml::Value, at: &str, missing: &mut Vec<String>) {
    match (ours, theirs) {
        (toml::Value::Table(o), toml::Value::Table(t)) => {
            for (k, v) in o {
                let here = format!("{at}.{k}");
                match t.get(k) {
                    Some(tv) => leaves_echoed(v, tv, &here, missing),
                    None => missing.push(format!("{here} is not in the dump")),
                }
            }
        }
        (o, t) if o == t => {}
        (o, t) => missing.push(format!("{at}: ours {o}, containerd's {t}")),
    }
}

#[test]
fn containerd_reads_the_version_2_configs_we_generate() {
    let Some(containerd) = stackwright_testkit::config_tool_or_skip("containerd", "containerd")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = generated(|p| p == "etc/containerd/config.toml");
    let mut checked = 0;
    for (case, path, body) in &files {
        let ours: toml::Value = toml::from_str(body).unwrap_or_else(|e| panic!("{case}: {e}"));
        // Debian's containerd (1.6) reads version 2 only; version 3 (2.x) parses above.
        if ours.get("version").and_then(toml::Value::as_integer) != Some(2) {
            continue;
        }
        let file = dir.path().join(format!("{case}.toml"));
        std::fs::write(&file, body).unwrap();
        let out = std::process::Command::new(&containerd)
            .arg("--config")
            .arg(&file)
            .args(["config", "dump"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: containerd refuses our {path}: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout))
            .unwrap_or_else(|e| panic!("{case}: containerd's dump does not parse: {e}"));
        let mut missing = Vec::new();
        leaves_echoed(&ours, &dump, "", &mut missing);
        assert!(
            missing.is_empty(),
            "{case}: containerd did not read these settings of our {path}:\n{}",
            missing.join("\n")
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no version-2 containerd config among {} files",
        files.len()
    );
}

#[test]
fn ssh_keygen_reads_every_authorized_key_we_generate() {
    let Some(keygen) = stackwright_testkit::config_tool_or_skip("ssh-keygen", "openssh-client")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = generated(|p| p.ends_with(".ssh/authorized_keys"));
    let mut checked = 0;
    for (case, path, body) in files.iter().filter(|(_, _, b)| !b.trim().is_empty()) {
        let file = dir.path().join(format!("{case}.keys"));
        std::fs::write(&file, body).unwrap();
        // `-l` prints one fingerprint per key and fails on a line that is not a key.
        let out = std::process::Command::new(&keygen)
            .arg("-lf")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: ssh-keygen refuses our {path}: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(
            printed,
            body.lines().count(),
            "{case}: {path}: not every line is a key"
        );
        checked += 1;
    }
    assert!(checked > 0, "no authorized_keys among the generated cases");
}
