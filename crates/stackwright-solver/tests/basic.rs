#![allow(clippy::result_large_err)]
//! Core rules on small, hand-written registries.

use std::collections::BTreeMap;

use stackwright_solver::{resolve, verify, ManifestProvider, Refusal, Request};
use stackwright_types::assembly::AssemblyFile;
use stackwright_types::capability::{parse_capabilities, Capability};
use stackwright_types::manifest::Manifest;
use stackwright_types::SourceText;

struct Reg {
    manifests: Vec<Manifest>,
    caps: BTreeMap<String, Capability>,
}

/// `comps`: (id, body) where body holds everything after `id = …` (category, stage, arch
/// are filled in when missing).
fn reg(caps: &str, comps: &[(&str, &str)]) -> Reg {
    let caps = parse_capabilities(&SourceText::new("capabilities.toml", caps)).expect("caps parse");
    let manifests = comps
        .iter()
        .map(|(id, body)| {
            let mut text = format!("id = \"{id}\"\nsummary = \"test\"\n");
            if !body.contains("category") {
                text.push_str("category = \"runtime\"\n");
            }
            if !body.contains("stage =") {
                text.push_str("stage = \"service\"\n");
            }
            if !body.contains("arch =") || body.find("arch =") > body.find("[[release]]") {
                text.push_str("arch = [\"amd64\", \"arm64\"]\n");
            }
            text.push_str(body);
            Manifest::parse(&SourceText::new(format!("{id}.toml"), text), Some(id))
                .unwrap_or_else(|e| panic!("{id}: {:?}", e.diagnostics()))
        })
        .collect();
    Reg { manifests, caps }
}

fn asm(text: &str) -> Request {
    Request::from_assembly(
        &AssemblyFile::parse(&SourceText::new("assembly.toml", text)).expect("assembly parses"),
    )
}

fn run(r: &Reg, req: &Request) -> Result<stackwright_solver::Resolution, Refusal> {
    let p = ManifestProvider::new(&r.manifests, &r.caps);
    let out = resolve(&p, req);
    if let Ok(res) = &out {
        assert_eq!(
            verify(&p, req, res),
            vec![],
            "the solver's answer breaks a rule"
        );
    }
    out
}

fn versions(res: &stackwright_solver::Resolution) -> String {
    res.components
        .iter()
        .map(|(k, c)| format!("{k}={}", c.version))
        .collect::<Vec<_>>()
        .join(" ")
}

const CAPS: &str = r#"
[cri]
summary = "CRI"
cardinality = "many"
default = "containerd"

[pod-network]
summary = "pod net"
cardinality = "one"

[kernel]
summary = "kernel"
cardinality = "one"

[oci-runtime]
summary = "oci"
cardinality = "many"
default = "runc"
"#;

fn k8s() -> Reg {
    reg(
        CAPS,
        &[
            (
                "kubelet",
                r#"
[[release]]
version = "1.30.2"
requires = { cri = "^1.0" }
[[release]]
version = "1.36.4"
requires = { cri = "^1.0", kube-apiserver = ">=1.36.0, <1.40.0" }
kernel = { min = "5.4", config = ["CONFIG_CGROUPS"] }
"#,
            ),
            ("kube-apiserver", "[[release]]\nversion = \"1.35.0\"\n[[release]]\nversion = \"1.36.4\"\n"),
            (
                "containerd",
                r#"
[[release]]
version = "1.5.9"
[[release]]
version = "1.6.0"
provides = { cri = "1.0.0" }
requires = { oci-runtime = "*" }
[[release]]
version = "1.7.22"
provides = { cri = "1.0.0" }
requires = { oci-runtime = "*" }
"#,
            ),
            ("cri-o", "[[release]]\nversion = \"1.36.0\"\nprovides = { cri = \"1.0.0\" }\nrequires = { oci-runtime = \"*\" }\n"),
            ("runc", "[[release]]\nversion = \"1.2.0\"\nprovides = { oci-runtime = \"1.1.0\" }\n"),
            ("crun", "[[release]]\nversion = \"1.20.0\"\nprovides = { oci-runtime = \"1.1.0\" }\n"),
            ("cilium", "[[release]]\nversion = \"1.16.0\"\nprovides = { pod-network = \"1.0.0\" }\n"),
            ("flannel", "[[release]]\nversion = \"0.26.0\"\nprovides = { pod-network = \"1.0.0\" }\n"),
            (
                "kern-a",
                "category = \"kernel\"\nstage = \"kernel\"\n[[release]]\nversion = \"6.6.71\"\nprovides = { kernel = \"6.6.71\" }\nkernel_config = [\"CONFIG_CGROUPS=y\"]\n",
            ),
            (
                "kern-b",
                "category = \"kernel\"\nstage = \"kernel\"\n[[release]]\nversion = \"4.19.0\"\nprovides = { kernel = \"4.19.0\" }\nkernel_config = [\"CONFIG_CGROUPS=y\"]\n",
            ),
        ],
    )
}

#[test]
fn picks_default_provider_and_newest() {
    let r = k8s();
    let res = run(
        &r,
        &asm("[components]\nkubelet = \"*\"\n[external]\nkube-apiserver = \"1.36.4\"\n"),
    )
    .unwrap();
    assert_eq!(
        versions(&res),
        "containerd=1.7.22 kubelet=1.36.4 runc=1.2.0"
    );
    assert_eq!(res.external["kube-apiserver"].to_string(), "1.36.4");
}

#[test]
fn prefer_wins_over_default() {
    let r = k8s();
    let res = run(
        &r,
        &asm("[components]\nkubelet = \"~1.30\"\n[prefer]\ncri = \"cri-o\"\noci-runtime = \"crun\"\n"),
    )
    .unwrap();
    assert_eq!(versions(&res), "cri-o=1.36.0 crun=1.20.0 kubelet=1.30.2");
}

#[test]
fn spec_example_is_explained() {
    let r = k8s();
    let e = run(&r, &asm("[components]\nkubelet = \"~1.30\"\ncontainerd = \"~1.5\"\n[exclude]\ncomponents = [\"cri-o\"]\n")).unwrap_err();
    let text = e.render();
    eprintln!("{text}");
    assert!(text.contains("SW0401"), "{text}");
    assert!(text.contains("containerd"), "{text}");
}

#[test]
fn one_capability_two_providers() {
    let r = k8s();
    let e = run(&r, &asm("[components]\ncilium = \"*\"\nflannel = \"*\"\n")).unwrap_err();
    let text = e.render();
    eprintln!("{text}");
    assert!(text.contains("only one provider of pod-network"), "{text}");
}

#[test]
fn kernel_min_rules_out_old_kernel() {
    let r = k8s();
    let e = run(
        &r,
        &asm("[components]\nkubelet = \"1.36.4\"\nkern-b = \"*\"\n[external]\nkube-apiserver = \"1.36.4\"\n"),
    )
    .unwrap_err();
    let text = e.render();
    eprintln!("{text}");
    assert!(text.contains("kernel >= 5.4"), "{text}");
    let ok = run(
        &r,
        &asm("[components]\nkubelet = \"1.36.4\"\n[capabilities]\nkernel = \"*\"\n[external]\nkube-apiserver = \"1.36.4\"\n"),
    )
    .unwrap();
    assert_eq!(ok.components["kern-a"].version.to_string(), "6.6.71");
}

#[test]
fn skew_against_external() {
    let r = k8s();
    let e = run(
        &r,
        &asm("[components]\nkubelet = \"~1.36\"\n[external]\nkube-apiserver = \"1.35.0\"\n"),
    )
    .unwrap_err();
    let text = e.render();
    eprintln!("{text}");
    assert!(text.contains("kube-apiserver"), "{text}");
}

#[test]
fn unknown_name_gets_suggestion() {
    let r = k8s();
    let e = run(&r, &asm("[components]\ncontainred = \"*\"\n")).unwrap_err();
    let text = e.render();
    assert!(text.contains("did you mean `containerd`"), "{text}");
    assert!(text.contains("SW0301"), "{text}");
    let e = run(&r, &asm("[capabilities]\ncrii = \"*\"\n")).unwrap_err();
    assert!(e.render().contains("SW0306"));
}

#[test]
fn locked_version_is_kept_while_allowed() {
    let r = k8s();
    let mut req = asm("[components]\ncontainerd = \"*\"\n");
    req.locked
        .insert("containerd".into(), semver::Version::new(1, 6, 0));
    let res = run(&r, &req).unwrap();
    assert_eq!(res.components["containerd"].version.to_string(), "1.6.0");
    // A lock outside the asked range is ignored.
    let mut req = asm("[components]\ncontainerd = \"~1.7\"\n");
    req.locked
        .insert("containerd".into(), semver::Version::new(1, 6, 0));
    let res = run(&r, &req).unwrap();
    assert_eq!(res.components["containerd"].version.to_string(), "1.7.22");
}

#[test]
fn recommendations_are_added_only_when_they_fit() {
    let r = reg(
        CAPS,
        &[
            ("app", "[[release]]\nversion = \"1.0.0\"\nrecommends = { helper = \"*\", rival-helper = \"*\" }\nconflicts = { rival-helper = \"*\" }\n"),
            ("helper", "[[release]]\nversion = \"2.0.0\"\n"),
            ("rival-helper", "[[release]]\nversion = \"1.0.0\"\n"),
        ],
    );
    let res = run(&r, &asm("[components]\napp = \"*\"\n")).unwrap();
    assert_eq!(versions(&res), "app=1.0.0 helper=2.0.0");
    assert!(
        matches!(&res.components["helper"].why[0], stackwright_solver::Why::Recommended { by, .. } if by == "app")
    );
    let mut off = asm("[components]\napp = \"*\"\n");
    off.recommends = false;
    assert_eq!(versions(&run(&r, &off).unwrap()), "app=1.0.0");
}

#[test]
fn privileged_and_arch_rule_out_releases() {
    let r = reg(
        CAPS,
        &[
            ("app", "[[release]]\nversion = \"1.0.0\"\nrequires = { oci-runtime = \"*\" }\n"),
            ("runc", "privileged = true\n[[release]]\nversion = \"1.2.0\"\nprovides = { oci-runtime = \"1.1.0\" }\n"),
            ("crun", "arch = [\"arm64\"]\n[[release]]\nversion = \"1.20.0\"\nprovides = { oci-runtime = \"1.1.0\" }\n"),
        ],
    );
    let res = run(
        &r,
        &asm(
            "[assembly]\narch = \"arm64\"\n[components]\napp = \"*\"\n[policy]\nprivileged = []\n",
        ),
    )
    .unwrap();
    assert_eq!(versions(&res), "app=1.0.0 crun=1.20.0");
    let e = run(
        &r,
        &asm(
            "[assembly]\narch = \"amd64\"\n[components]\napp = \"*\"\n[policy]\nprivileged = []\n",
        ),
    )
    .unwrap_err();
    let text = e.render();
    assert!(
        matches!(&e, Refusal::Privileged(list) if list.len() == 1 && list[0].component == "runc"),
        "the policy, not the architecture, is what refuses: {text}"
    );
    assert!(
        text.contains("error[SW0507]: `runc` 1.2.0 runs privileged"),
        "{text}"
    );
    // With the policy met, what is left is the architecture, and the help says so.
    let e = run(
        &r,
        &asm("[assembly]\narch = \"amd64\"\n[components]\napp = \"*\"\n[exclude]\ncomponents = [\"runc\"]\n"),
    )
    .unwrap_err();
    let text = e.render();
    assert!(
        text.contains("crun 1.20.0 is not built for amd64"),
        "{text}"
    );
    assert!(
        text.contains("help: no release above is built for this architecture"),
        "{text}"
    );
}
