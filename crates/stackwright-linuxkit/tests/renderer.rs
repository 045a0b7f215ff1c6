//! The round trip through the real pipeline: a LinuxKit file, imported onto the built-in
//! registry, assembled (`stackwright::Assembler`) and rendered (`linuxkit_config`,
//! `linuxkit_yaml`), must give back the file, section by section — the assembly's
//! `[linuxkit]` table carries what `[components]` cannot (see
//! `stackwright_linuxkit::table::reconstruct`).

mod common;

use std::path::{Path, PathBuf};

use stackwright_linuxkit::{import, load, ImportOptions};
use stackwright_types::linuxkit::Config;
use stackwright_types::manifest::{Arch, Manifest};
use stackwright_types::SourceText;

fn ok_cases() -> Vec<(String, Vec<SourceText>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/linuxkit");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.yml").is_file() && !p.join("expect.toml").exists())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("merge-") && n.ends_with(".yml"))
                .collect();
            names.sort();
            names.insert(0, "input.yml".into());
            let sources = names
                .iter()
                .map(|n| SourceText::new(n.clone(), std::fs::read_to_string(dir.join(n)).unwrap()))
                .collect();
            (
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                sources,
            )
        })
        .collect()
}

fn sections(c: &Config) -> Vec<(&'static str, String)> {
    let y = |v: Result<String, serde_yaml::Error>| v.unwrap();
    vec![
        ("kernel", y(serde_yaml::to_string(&c.kernel))),
        ("init", y(serde_yaml::to_string(&c.init))),
        ("onboot", y(serde_yaml::to_string(&c.onboot))),
        ("onshutdown", y(serde_yaml::to_string(&c.onshutdown))),
        ("services", y(serde_yaml::to_string(&c.services))),
        ("trust", y(serde_yaml::to_string(&c.trust))),
        ("files", y(serde_yaml::to_string(&c.files))),
        ("volumes", y(serde_yaml::to_string(&c.volumes))),
    ]
}

#[test]
fn imported_assemblies_render_the_original_file() {
    let assembler = stackwright::Assembler::new();
    let registry = assembler
        .registry(None)
        .expect("the built-in registry loads");
    let manifests: Vec<Manifest> = registry.manifests().cloned().collect();
    let mut failures = Vec::new();
    for (case, sources) in ok_cases() {
        let original = load(&sources).unwrap().config;
        let opts = ImportOptions {
            name: Some(case.clone()),
            arch: Some(Arch::Amd64),
        };
        let imp = import(&sources, &manifests, &opts).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(&case);
        imp.write_to(&dir).unwrap();
        let assembled = match assembler.assemble_file_blocking(&dir.join("assembly.toml")) {
            Ok(a) => a,
            Err(e) => {
                let diags = stackwright_types::diagnostic::render_all(&e.diagnostics());
                failures.push(format!("{case}: does not assemble: {e}\n{diags}"));
                continue;
            }
        };
        let rendered = common::without_generated_files(
            &assembled,
            stackwright::render::linuxkit_config(&assembled.platform()),
        );
        for ((section, want), (_, got)) in sections(&original).into_iter().zip(sections(&rendered))
        {
            if want != got {
                failures.push(format!(
                    "{case}: {section} differs\n--- original\n{want}--- rendered\n{got}"
                ));
            }
        }
        // The YAML text itself must read back as LinuxKit reads it.
        match stackwright::render::linuxkit_yaml(&assembled.platform()) {
            Ok(text) => {
                if let Err(d) = stackwright_linuxkit::parse(&SourceText::new("linuxkit.yml", text))
                {
                    failures.push(format!(
                        "{case}: rendered linuxkit.yml is refused:\n{}",
                        stackwright_types::diagnostic::render_all(&d)
                    ));
                }
            }
            Err(e) => failures.push(format!("{case}: linuxkit_yaml: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Assembles `text` (an assembly.toml) with the built-in registry.
fn assemble(text: &str) -> Result<stackwright::Assembled, stackwright::Error> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("assembly.toml");
    std::fs::write(&path, text).unwrap();
    stackwright::Assembler::new().assemble_file_blocking(&path)
}

#[test]
fn a_hand_written_linuxkit_table_overrides_only_what_it_gives() {
    let base = "[assembly]\nname = \"layout\"\narch = \"amd64\"\n[components]\ngetty = \"*\"\nsshd = \"*\"\n";
    let plain = assemble(base).unwrap();
    let default = stackwright::render::linuxkit_config(&plain.platform());
    let services: Vec<&str> = default.services.iter().map(|i| i.name.as_str()).collect();
    assert!(
        services.contains(&"getty") && services.contains(&"sshd"),
        "{services:?}"
    );

    let laid_out = assemble(&format!(
        "{base}[linuxkit]\nservices = [\"sshd\"]\nnames = {{ sshd = \"ssh\" }}\nkernel = false\ntrust = {{ org = [\"linuxkit\"] }}\n[[linuxkit.volumes]]\nname = \"v\"\n"
    ))
    .unwrap();
    let c = stackwright::render::linuxkit_config(&laid_out.platform());
    // The section given: exactly its ids, under their LinuxKit names; getty is left out
    // of linuxkit.yml but stays in the plan.
    let names: Vec<&str> = c.services.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["ssh"]);
    assert!(laid_out.resolution.components.contains_key("getty"));
    // Sections not given keep the default; the kernel section is dropped.
    assert_eq!(c.init, default.init);
    assert_eq!(c.onboot, default.onboot);
    assert!(default.kernel.is_some() && c.kernel.is_none());
    assert_eq!(c.trust.unwrap().org.unwrap(), ["linuxkit"]);
    assert_eq!(c.volumes[0].name, "v");
    // Manifests' [container] defaults still apply (inherit_container defaults to true).
    let sshd = default.services.iter().find(|i| i.name == "sshd").unwrap();
    assert_eq!(c.services[0].container, sshd.container);
    stackwright::render::linuxkit_yaml(&laid_out.platform()).unwrap();
}

#[test]
fn linuxkit_ids_that_are_not_chosen_are_refused_by_name() {
    // Validation refuses them, each at its line, before anything is rendered.
    let err = assemble(
        "[assembly]\nname = \"layout\"\narch = \"amd64\"\n[components]\ngetty = \"*\"\n[linuxkit]\nonboot = [\"getty\", \"not-here\"]\nnames = { gety = \"x\" }\n",
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let problems: Vec<_> = err
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    let got: Vec<(u32, &str)> = problems
        .iter()
        .map(|d| (d.location.as_ref().unwrap().line, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                "[linuxkit] onboot lists `not-here`, which is not a component of the platform"
            ),
            (
                8,
                "[linuxkit] names gives a name to `gety`, which is not a component of the platform"
            ),
        ]
    );
    assert!(problems
        .iter()
        .all(|d| d.code == stackwright_types::diagnostic::LINUXKIT_LAYOUT));
}
