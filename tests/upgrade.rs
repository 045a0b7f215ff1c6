//! `stackwright upgrade`: every folder under `upgrade/` is a case (see upgrade/README.md).

use std::collections::BTreeMap;
use std::path::Path;

use stackwright::types::diagnostic::render_all;
use stackwright::types::lock::Lockfile;
use stackwright::upgrade::Target;

fn versions(l: &Lockfile) -> BTreeMap<String, String> {
    l.components
        .iter()
        .map(|c| (c.id.clone(), c.version.clone()))
        .collect()
}

fn current(assembler: &stackwright::Assembler, case: &Path) -> Lockfile {
    match stackwright::read_lock(case).unwrap() {
        Some(l) => l,
        None => {
            let a = assembler
                .assemble_file_blocking(&case.join("assembly.toml"))
                .unwrap();
            stackwright::render::lockfile(&a.platform())
        }
    }
}

#[test]
fn every_case_plans() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    for case in stackwright_tests::case_dirs("upgrade") {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let case = Path::new("upgrade").join(&name);
        let assembler = stackwright::Assembler::new();
        let now = current(&assembler, &case);
        let targets: Vec<Target> = std::fs::read_to_string(case.join("to"))
            .unwrap_or_else(|e| panic!("upgrade/{name}/to: {e}"))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                l.parse()
                    .unwrap_or_else(|e| panic!("upgrade/{name}/to: {e}"))
            })
            .collect();
        let loaded = assembler
            .load_blocking(&case.join("assembly.toml"))
            .unwrap();
        let shown = match stackwright::upgrade::plan(&assembler, loaded.clone(), &now, &targets) {
            Err(e) => format!(
                "refused (exit {})\n{}",
                e.exit_code(),
                render_all(&e.diagnostics())
            ),
            Ok(plan) => {
                let mut before = versions(&now);
                for (i, step) in plan.steps.iter().enumerate() {
                    let after = versions(&step.lock);
                    let mut listed: BTreeMap<String, (Option<String>, Option<String>)> =
                        BTreeMap::new();
                    for c in &step.changes {
                        assert!(
                            !c.reason.is_empty(),
                            "upgrade/{name} step {}: {} has no reason",
                            i + 1,
                            c.id
                        );
                        listed.insert(c.id.clone(), (c.from.clone(), c.to.clone()));
                    }
                    let mut actual = BTreeMap::new();
                    for id in before.keys().chain(after.keys()) {
                        let (b, a) = (before.get(id).cloned(), after.get(id).cloned());
                        if b != a {
                            actual.insert(id.clone(), (b, a));
                        }
                    }
                    assert_eq!(listed, actual, "upgrade/{name} step {}", i + 1);
                    assert!(
                        !listed.is_empty(),
                        "upgrade/{name} step {} changes nothing",
                        i + 1
                    );
                    // The step's platform, every version pinned, assembles on its own.
                    let pins = after.clone();
                    stackwright::Assembler::new()
                        .assemble_request(
                            assembler.registry(Some(&loaded)).unwrap(),
                            loaded.clone(),
                            |r| {
                                for (id, v) in &pins {
                                    r.components.insert(
                                        id.clone(),
                                        stackwright::solver::Ask::new(
                                            semver::VersionReq::parse(&format!("={v}")).unwrap(),
                                        ),
                                    );
                                }
                            },
                        )
                        .unwrap_or_else(|e| {
                            panic!(
                                "upgrade/{name} step {}: {}",
                                i + 1,
                                render_all(&e.diagnostics())
                            )
                        });
                    before = after;
                }
                format!(
                    "{}---- json\n{}",
                    stackwright::render::upgrade_text(&plan),
                    stackwright::render::upgrade_json(&plan)
                )
            }
        };
        insta::assert_snapshot!(format!("upgrade-{name}"), shown);
    }
}

/// 1.34 → 1.36 on the control plane: two steps of kube-apiserver, each minor's
/// controller-manager and scheduler after it, kubelet and kube-proxy after those.
#[test]
fn the_control_plane_moves_one_minor_at_a_time_in_skew_order() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let case = Path::new("upgrade/control-plane-1.34-to-1.36");
    let assembler = stackwright::Assembler::new();
    let now = current(&assembler, case);
    let targets: Vec<Target> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ]
    .iter()
    .map(|id| format!("{id}=1.36").parse().unwrap())
    .collect();
    let plan = stackwright::upgrade::plan(
        &assembler,
        assembler
            .load_blocking(&case.join("assembly.toml"))
            .unwrap(),
        &now,
        &targets,
    )
    .unwrap();
    let step_of = |id: &str, to: &str| -> usize {
        plan.steps
            .iter()
            .position(|s| {
                s.changes
                    .iter()
                    .any(|c| c.id == id && c.to.as_deref().is_some_and(|v| v.starts_with(to)))
            })
            .unwrap_or_else(|| panic!("{id} never reaches {to}"))
    };
    let apiserver: Vec<usize> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.changes.iter().any(|c| c.id == "kube-apiserver"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        apiserver.len(),
        2,
        "kube-apiserver moves twice: {apiserver:?}"
    );
    for minor in ["1.35", "1.36"] {
        let a = step_of("kube-apiserver", minor);
        for cp in ["kube-controller-manager", "kube-scheduler"] {
            assert!(step_of(cp, minor) > a, "{cp} {minor} after kube-apiserver");
            for node in ["kubelet", "kube-proxy"] {
                assert!(
                    step_of(node, minor) > step_of(cp, minor),
                    "{node} {minor} after {cp}"
                );
            }
        }
    }
    assert!(step_of("kube-apiserver", "1.36") > step_of("kubelet", "1.35"));
    let last = plan.steps.last().unwrap();
    let end = versions(&last.lock);
    for t in &targets {
        assert!(
            end[&t.id].starts_with("1.36."),
            "{} ends at {}",
            t.id,
            end[&t.id]
        );
    }
}

fn run(args: &[&str]) -> i32 {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    stackwright_cli::run(std::iter::once("stackwright").chain(args.iter().copied()))
}

#[test]
fn the_command_line_writes_each_step_as_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let steps = dir.path().join("steps");
    let case = "upgrade/worker-1.34-to-1.36-moves-containerd";
    let asm = format!("{case}/assembly.toml");
    let s = steps.to_str().unwrap();
    assert_eq!(
        run(&[
            "upgrade",
            &asm,
            "--lock",
            case,
            "--to",
            "kubelet=1.36",
            "--output",
            "json",
            "--write-steps",
            s
        ]),
        0
    );
    let one = steps.join("step-1");
    let two = steps.join("step-2");
    assert!(one.join("stackwright.lock").is_file() && two.join("stackwright.lock").is_file());
    assert!(!steps.join("step-3").exists());
    let d = stackwright::diff::diff_paths(&one, &two).unwrap();
    let moved: Vec<&str> = d.changed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(moved, ["containerd", "kubelet", "pause"]);
    // Usage mistakes are exit 2, a refused plan exit 1, a missing lock exit 3.
    assert_eq!(
        run(&["upgrade", &asm, "--lock", case, "--to", "kubelet"]),
        2
    );
    assert_eq!(run(&["upgrade", &asm, "--lock", case]), 2);
    assert_eq!(
        run(&["upgrade", &asm, "--lock", case, "--to", "kubelet=1.99"]),
        1
    );
    assert_eq!(
        run(&[
            "upgrade",
            &asm,
            "--lock",
            "upgrade/nowhere",
            "--to",
            "kubelet=1.36"
        ]),
        3
    );
}
