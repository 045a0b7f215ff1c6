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
