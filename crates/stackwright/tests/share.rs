//! Sharing assemblies through a real registry (Debian's `docker-registry` on 127.0.0.1):
//! publish an example assembly, look at the artifact with `skopeo inspect --raw`, pull it
//! back byte for byte, extend a published parent (the result must equal extending the
//! same file locally, and the lock pins it), and refuse a tampered artifact leaving no
//! output. Fails with an installation hint when the tools are missing, unless
//! STACKWRIGHT_SKIP_REGISTRY_TESTS=1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use stackwright::share::{self, ShareOptions};
use stackwright::Assembler;
use stackwright::NoProgress;
use stackwright_testkit::{self as testing, LocalRegistry};

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assemblies")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// docker-host extending linuxkit-base, in `dir/base/` and `dir/hosts/`.
fn write_examples(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::create_dir_all(dir.join("hosts")).unwrap();
    std::fs::write(
        dir.join("base/linuxkit-base.toml"),
        example("linuxkit-base"),
    )
    .unwrap();
    let child = example("docker-host").replace(
        "extends = [\"linuxkit-base.toml\"]",
        "extends = [\"../base/linuxkit-base.toml\"]",
    );
    std::fs::write(dir.join("hosts/docker-host.toml"), child).unwrap();
    dir.join("hosts/docker-host.toml")
}

fn options(reg: &LocalRegistry, cache: &Path) -> ShareOptions {
    ShareOptions {
        insecure: vec![reg.host()],
        cache: Some(cache.to_path_buf()),
        ..ShareOptions::default()
    }
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn skopeo_raw(reference: &str) -> Option<serde_json::Value> {
    let skopeo = testing::skopeo_or_skip()?;
    let out = Command::new(skopeo)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("a JSON manifest"))
}

#[test]
fn push_publishes_one_artifact_and_pull_brings_the_same_bytes_back() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let path = write_examples(&work.path().join("src"));
    let opts = options(&reg, &work.path().join("cache"));
    let loaded = share::load_blocking(&path, &opts, None).unwrap();
    let assembled = Assembler::new().assemble_loaded(loaded).unwrap();
    let outputs = assembled.outputs().unwrap();
    let reference = format!("{}/asm/docker-host:v1", reg.host());
    let pushed = share::push_assembled_blocking(
        &assembled,
        &format!("oci://{reference}"),
        &opts,
        &NoProgress,
    )
    .unwrap();
    assert!(pushed.digest.starts_with("sha256:"));

    if let Some(m) = skopeo_raw(&reference) {
        assert_eq!(
            m["artifactType"],
            "application/vnd.stackwright.assembly.v1+json"
        );
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        let layers: Vec<(&str, &str)> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["annotations"]["org.opencontainers.image.title"]
                        .as_str()
                        .unwrap(),
                    l["mediaType"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            layers,
            [
                (
                    "base/linuxkit-base.toml",
                    "application/vnd.stackwright.assembly.source.v1+toml"
                ),
                (
                    "hosts/docker-host.toml",
                    "application/vnd.stackwright.assembly.source.v1+toml"
                ),
                (
                    "stackwright.lock",
                    "application/vnd.stackwright.lock.v1+toml"
                ),
                (
                    "linuxkit.yml",
                    "application/vnd.stackwright.linuxkit.v1+yaml"
                ),
                ("plan.json", "application/vnd.stackwright.plan.v1+json"),
            ]
        );
        let ann = &m["annotations"];
        assert_eq!(ann["vnd.stackwright.assembly.name"], "docker-host");
        assert_eq!(
            ann["vnd.stackwright.assembly.entry"],
            "hosts/docker-host.toml"
        );
        assert_eq!(ann["vnd.stackwright.assembly.arch"], "amd64");
        assert_eq!(ann["org.opencontainers.image.version"], "0.1.0");
        assert!(
            ann.get("org.opencontainers.image.created").is_none(),
            "no clock without SOURCE_DATE_EPOCH"
        );
    }

    // Reproducible: the same assembly publishes under the same digest; a creation time changes it.
    let again = share::push_assembled_blocking(&assembled, &reference, &opts, &NoProgress).unwrap();
    assert_eq!(again.digest, pushed.digest);
    let dated = ShareOptions {
        created: Some(1_700_000_000),
        ..opts.clone()
    };
    let stamped = share::push_assembled_blocking(
        &assembled,
        &format!("{}/asm/docker-host:dated", reg.host()),
        &dated,
        &NoProgress,
    )
    .unwrap();
    assert_ne!(stamped.digest, pushed.digest);
    if let Some(m) = skopeo_raw(&format!("{}/asm/docker-host:dated", reg.host())) {
        assert_eq!(
            m["annotations"]["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
    }

    let out = work.path().join("pulled");
    let pulled = share::pull_blocking(&reference, &out, &opts, &NoProgress).unwrap();
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(pulled.name.as_deref(), Some("docker-host"));
    let got = files_under(&out);
    let mut want = BTreeMap::new();
    want.insert(
        "base/linuxkit-base.toml".to_string(),
        std::fs::read(work.path().join("src/base/linuxkit-base.toml")).unwrap(),
    );
    want.insert(
        "hosts/docker-host.toml".to_string(),
        std::fs::read(&path).unwrap(),
    );
    for name in ["stackwright.lock", "linuxkit.yml", "plan.json"] {
        want.insert(name.to_string(), outputs[name].clone());
    }
    assert_eq!(got, want);

    // The pulled sources assemble again to the same outputs.
    let re = Assembler::new()
        .assemble_file_blocking(&out.join("hosts/docker-host.toml"))
        .unwrap()
        .outputs()
        .unwrap();
    // (The lock and plan say where each component was asked for: the files' new home.)
    let src = work.path().join("src").display().to_string();
    let pulled_dir = out.display().to_string();
    for name in ["stackwright.lock", "linuxkit.yml", "plan.json"] {
        assert_eq!(
            String::from_utf8_lossy(&re[name]).replace(&pulled_dir, &src),
            String::from_utf8_lossy(&outputs[name]),
            "{name}"
        );
    }

    // --from an output directory: its files, not fresh ones; another assembly's output is refused.
    let written = work.path().join("out/docker-host");
    let mut a2 = Assembler::new().assemble_file_blocking(&path).unwrap();
    stackwright::output::write_blocking(&mut a2, &written, &Default::default(), &NoProgress)
        .unwrap();
    let from_dir =
        share::push_dir_blocking(&a2.loaded, &written, &reference, &opts, &NoProgress).unwrap();
    assert_eq!(
        from_dir.digest, pushed.digest,
        "same outputs, same artifact"
    );
    let base =
        stackwright::assembly::load(&work.path().join("src/base/linuxkit-base.toml")).unwrap();
    let e = share::push_dir_blocking(&base, &written, &reference, &opts, &NoProgress).unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e}");
}

#[test]
fn a_published_parent_works_like_the_local_file_and_the_lock_pins_it() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let base_dir = work.path().join("base");
    std::fs::create_dir_all(&base_dir).unwrap();
    let base_path = base_dir.join("linuxkit-base.toml");
    std::fs::write(&base_path, example("linuxkit-base")).unwrap();
    let base = Assembler::new().assemble_file_blocking(&base_path).unwrap();
    let uri = format!("oci://{}/asm/linuxkit-base:v1", reg.host());
    let published = share::push_assembled_blocking(&base, &uri, &opts, &NoProgress).unwrap();

    // The same child twice: once extending the local file, once the published one.
    let local = work.path().join("local/docker-host.toml");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(
        &local,
        example("docker-host").replace("\"linuxkit-base.toml\"", "\"../base/linuxkit-base.toml\""),
    )
    .unwrap();
    let remote = work.path().join("remote/docker-host.toml");
    std::fs::create_dir_all(remote.parent().unwrap()).unwrap();
    std::fs::write(
        &remote,
        example("docker-host").replace("\"linuxkit-base.toml\"", &format!("\"{uri}\"")),
    )
    .unwrap();

    let want = Assembler::new()
        .assemble_file_blocking(&local)
        .unwrap()
        .outputs()
        .unwrap();
    let loaded = share::load_blocking(&remote, &opts, None).unwrap();
    assert_eq!(loaded.parents.len(), 1);
    assert_eq!(loaded.parents[0].digest, published.digest);
    let got = Assembler::new()
        .assemble_loaded(loaded)
        .unwrap()
        .outputs()
        .unwrap();
    // Equal but for where each component was asked for: the published file instead of
    // the local one (the lock and plan name source locations).
    let w = work.path().display().to_string();
    let same_places = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .replace(
                &format!("{uri}#linuxkit-base.toml"),
                &format!("{w}/local/../base/linuxkit-base.toml"),
            )
            .replace(&format!("{w}/remote/"), &format!("{w}/local/"))
    };
    for name in ["linuxkit.yml", "plan.json", "graph.dot", "graph.mmd"] {
        assert_eq!(
            same_places(&got[name]),
            String::from_utf8_lossy(&want[name]),
            "{name}"
        );
    }
    assert_eq!(got["linuxkit.yml"], want["linuxkit.yml"]);
    let lock_text = String::from_utf8(got["stackwright.lock"].clone()).unwrap();
    let parent_block = format!(
        "[[parent]]\nuri = \"{uri}\"\ndigest = \"{}\"\n\n",
        published.digest
    );
    assert!(lock_text.contains(&parent_block), "{lock_text}");
    assert_eq!(
        same_places(lock_text.replace(&parent_block, "").as_bytes()),
        String::from_utf8(want["stackwright.lock"].clone()).unwrap(),
        "the lock differs only by the parent"
    );
    assert!(!String::from_utf8_lossy(&want["stackwright.lock"]).contains("parent"));

    // Move the tag to a different parent: the lock keeps the rerun on the old digest.
    std::fs::write(
        &base_path,
        example("linuxkit-base").replace("rngd = \"*\"\n", ""),
    )
    .unwrap();
    let moved = Assembler::new().assemble_file_blocking(&base_path).unwrap();
    let moved = share::push_assembled_blocking(&moved, &uri, &opts, &NoProgress).unwrap();
    assert_ne!(moved.digest, published.digest);
    let lock = stackwright::types::lock::Lockfile::parse(&stackwright::types::SourceText::new(
        "stackwright.lock",
        lock_text.clone(),
    ))
    .unwrap();
    let before = reg.requests().len();
    let pinned = share::load_blocking(&remote, &opts, Some(&lock)).unwrap();
    assert_eq!(pinned.parents[0].digest, published.digest);
    assert_eq!(
        reg.requests().len(),
        before,
        "pinned and cached: no registry request"
    );
    let rerun = Assembler::new()
        .with_lock(Some(lock))
        .assemble_loaded(pinned)
        .unwrap()
        .outputs()
        .unwrap();
    assert_eq!(
        String::from_utf8(rerun["stackwright.lock"].clone()).unwrap(),
        lock_text
    );
    assert!(rerun["plan.json"] == got["plan.json"]);

    // The same through the facade's lock reuse, from an output directory holding the
    // lock (what `stackwright assemble --out DIR` does): pinned; `update` follows the tag.
    let out_dir = work.path().join("out-remote");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("stackwright.lock"), &lock_text).unwrap();
    let assembler = Assembler::new().share_options(opts.clone());
    let (kept, _) = assembler
        .assemble_locked_blocking(&remote, Some(&out_dir), false)
        .unwrap();
    assert_eq!(kept.loaded.parents[0].digest, published.digest);
    assert_eq!(
        kept.outputs().unwrap()["stackwright.lock"],
        rerun["stackwright.lock"]
    );
    let (updated, _) = assembler
        .assemble_locked_blocking(&remote, Some(&out_dir), true)
        .unwrap();
    assert_eq!(updated.loaded.parents[0].digest, moved.digest);

    // Without the lock the tag is followed.
    let fresh = share::load_blocking(&remote, &opts, None).unwrap();
    assert_eq!(fresh.parents[0].digest, moved.digest);
    let fresh = Assembler::new().assemble_loaded(fresh).unwrap();
    assert!(!fresh.resolution.components.contains_key("rngd"));

    // A child of a child: the published parent's own `extends` are its files (published
    // with it: the base as it is now, without rngd).
    let local_now = Assembler::new().assemble_file_blocking(&local).unwrap();
    let want_now = local_now.outputs().unwrap();
    let child_published = share::push_assembled_blocking(
        &local_now,
        &format!("{}/asm/docker-host:v1", reg.host()),
        &opts,
        &NoProgress,
    )
    .unwrap();
    let grandchild = work.path().join("gc.toml");
    std::fs::write(
        &grandchild,
        format!(
            "[assembly]\nname = \"docker-host\"\nextends = [\"oci://{}/asm/docker-host@{}\"]\n",
            reg.host(),
            child_published.digest
        ),
    )
    .unwrap();
    let gc = share::load_blocking(&grandchild, &opts, None).unwrap();
    let gc = Assembler::new()
        .assemble_loaded(gc)
        .unwrap()
        .outputs()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&gc["linuxkit.yml"]),
        String::from_utf8_lossy(&want_now["linuxkit.yml"])
    );
    assert!(!String::from_utf8_lossy(&gc["linuxkit.yml"]).contains("rngd"));
}

/// A fleet's base: linuxkit-base plus a component of its own (`fleet-agent`, two
/// releases) providing a capability of its own (`fleet-telemetry`, declared in a
/// `capabilities.toml` beside it), under `component_paths`.
fn write_fleet(dir: &Path) -> PathBuf {
    let comps = dir.join("components");
    std::fs::create_dir_all(&comps).unwrap();
    std::fs::write(
        comps.join("capabilities.toml"),
        "[fleet-telemetry]\nsummary = \"Ships this fleet's node telemetry\"\ncardinality = \"one\"\ndefault = \"fleet-agent\"\n",
    )
    .unwrap();
    std::fs::write(
        comps.join("fleet-agent.toml"),
        "id = \"fleet-agent\"\ncategory = \"observability\"\nsummary = \"The fleet's node agent\"\nstage = \"service\"\narch = [\"amd64\"]\nverified = false\nunverified = [\"image\"]\n\n[[release]]\nversion = \"1.2.0\"\nimage = \"registry.example.org/fleet/agent:1.2.0\"\nprovides = { fleet-telemetry = \"1.0.0\" }\n\n[[release]]\nversion = \"1.1.0\"\nimage = \"registry.example.org/fleet/agent:1.1.0\"\nprovides = { fleet-telemetry = \"1.0.0\" }\n",
    )
    .unwrap();
    let base = example("linuxkit-base").replace(
        "[assembly]\nname = \"linuxkit-base\"",
        "[assembly]\nname = \"fleet-base\"\ncomponent_paths = [\"components\"]",
    ) + "\n[capabilities]\nfleet-telemetry = \"*\"\n";
    assert!(base.contains("component_paths") && base.contains("fleet-telemetry"));
    std::fs::write(dir.join("fleet-base.toml"), base).unwrap();
    dir.join("fleet-base.toml")
}

#[test]
fn a_child_of_a_published_assembly_with_its_own_components_resolves_as_the_parent() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let base_path = write_fleet(&work.path().join("fleet"));
    let parent = Assembler::new().assemble_file_blocking(&base_path).unwrap();
    assert_eq!(
        parent.resolution.components["fleet-agent"]
            .version
            .to_string(),
        "1.2.0"
    );
    let reference = format!("{}/fleet/base:v1", reg.host());
    let uri = format!("oci://{reference}");
    let published = share::push_assembled_blocking(&parent, &uri, &opts, &NoProgress).unwrap();

    // The components and their capabilities.toml are layers of the artifact, with their
    // own media types, titled relative to the assembly file.
    if let Some(m) = skopeo_raw(&reference) {
        let layers: BTreeMap<&str, &str> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["annotations"]["org.opencontainers.image.title"]
                        .as_str()
                        .unwrap(),
                    l["mediaType"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            layers.get("components/fleet-agent.toml"),
            Some(&"application/vnd.stackwright.component.v1+toml"),
            "{layers:?}"
        );
        assert_eq!(
            layers.get("components/capabilities.toml"),
            Some(&"application/vnd.stackwright.capabilities.v1+toml"),
            "{layers:?}"
        );
        assert_eq!(
            layers.get("fleet-base.toml"),
            Some(&"application/vnd.stackwright.assembly.source.v1+toml")
        );
    }

    // A child elsewhere, with no copy of the components, extends the published parent.
    let child = work.path().join("edge/edge-node.toml");
    std::fs::create_dir_all(child.parent().unwrap()).unwrap();
    std::fs::write(
        &child,
        format!("[assembly]\nname = \"fleet-base\"\nextends = [\"{uri}\"]\n"),
    )
    .unwrap();
    let loaded = share::load_blocking(&child, &opts, None).unwrap();
    assert_eq!(loaded.parents[0].digest, published.digest);
    let names: Vec<&str> = loaded
        .published_components
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        [
            format!("{uri}#components/capabilities.toml"),
            format!("{uri}#components/fleet-agent.toml")
        ]
    );
    let registry = Assembler::new().registry(Some(&loaded)).unwrap();
    assert_eq!(registry.providers("fleet-telemetry"), ["fleet-agent"]);
    let got = Assembler::new().assemble_loaded(loaded).unwrap();
    let versions = |a: &stackwright::Assembled| -> Vec<(String, String)> {
        a.resolution
            .components
            .iter()
            .map(|(id, c)| (id.clone(), c.version.to_string()))
            .collect()
    };
    assert_eq!(
        versions(&got),
        versions(&parent),
        "the child resolves as the parent"
    );
    assert_eq!(
        String::from_utf8_lossy(&got.outputs().unwrap()["linuxkit.yml"]),
        String::from_utf8_lossy(&parent.outputs().unwrap()["linuxkit.yml"])
    );

    // Pulled components are checked like local ones: a published assembly whose
    // component is broken is refused with the component's own diagnostic, at its
    // published file.
    std::fs::write(
        work.path().join("fleet/components/fleet-agent.toml"),
        std::fs::read_to_string(work.path().join("fleet/components/fleet-agent.toml"))
            .unwrap()
            .replace("verified = false", "verified = false\nflavour = \"x\""),
    )
    .unwrap();
    let loaded = share::load_blocking(&base_path, &opts, None).unwrap();
    let broken = share::artifact(&loaded, &parent.outputs().unwrap(), None).unwrap();
    let broken_ref = format!("oci://{}/fleet/broken:v1", reg.host());
    share::push_blocking(&broken, &broken_ref, &opts, &NoProgress).unwrap();
    std::fs::write(
        &child,
        format!("[assembly]\nextends = [\"{broken_ref}\"]\n"),
    )
    .unwrap();
    let loaded = share::load_blocking(&child, &opts, None).unwrap();
    let e = Assembler::new().assemble_loaded(loaded).unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e}");
    let d = e.diagnostics();
    assert!(
        d.iter().any(|d| {
            d.code == stackwright::types::diagnostic::UNKNOWN_KEY
                && d.location
                    .as_ref()
                    .is_some_and(|l| l.file == format!("{broken_ref}#components/fleet-agent.toml"))
        }),
        "{d:?}"
    );
}

/// A published assembly carries the local files its `[[files]]` entries name: a child in
/// another directory (holding a decoy file of the same name) builds the parent's file.
#[test]
fn a_child_gets_the_files_sources_published_with_its_parent() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let fleet = work.path().join("fleet");
    std::fs::create_dir_all(fleet.join("files")).unwrap();
    std::fs::write(fleet.join("files/motd"), "welcome to the fleet\n").unwrap();
    let base = example("linuxkit-base").replace(
        "[assembly]\nname = \"linuxkit-base\"",
        "[assembly]\nname = \"fleet-files\"",
    ) + "\n[[files]]\npath = \"etc/motd\"\nsource = \"files/motd\"\nmode = \"0644\"\n";
    std::fs::write(fleet.join("fleet-files.toml"), &base).unwrap();
    let parent = Assembler::new()
        .assemble_file_blocking(&fleet.join("fleet-files.toml"))
        .unwrap();
    let reference = format!("{}/fleet/files:v1", reg.host());
    let uri = format!("oci://{reference}");
    share::push_assembled_blocking(&parent, &uri, &opts, &NoProgress).unwrap();
    if let Some(m) = skopeo_raw(&reference) {
        let file = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["annotations"]["org.opencontainers.image.title"] == "files/motd")
            .expect("the files source is a layer");
        assert_eq!(
            file["mediaType"],
            "application/vnd.stackwright.assembly.file.v1"
        );
    }

    let edge = work.path().join("edge");
    std::fs::create_dir_all(edge.join("files")).unwrap();
    std::fs::write(
        edge.join("files/motd"),
        "the child's own, not the parent's\n",
    )
    .unwrap();
    let child = edge.join("edge.toml");
    std::fs::write(
        &child,
        format!("[assembly]\nname = \"edge\"\nextends = [\"{uri}\"]\n"),
    )
    .unwrap();
    let loaded = share::load_blocking(&child, &opts, None).unwrap();
    let f = loaded
        .assembly
        .files
        .iter()
        .find(|f| f.value.path == "etc/motd")
        .expect("the parent's files entry");
    let source = Path::new(f.value.source.as_deref().unwrap()).to_path_buf();
    assert!(
        source.is_absolute() && source.starts_with(work.path().join("cache")),
        "{source:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&source).unwrap(),
        "welcome to the fleet\n"
    );
    let got = Assembler::new().assemble_loaded(loaded).unwrap();
    let yml = String::from_utf8(got.outputs().unwrap()["linuxkit.yml"].clone()).unwrap();
    assert!(yml.contains(&source.display().to_string()), "{yml}");

    // Loading again reuses the copy (same bytes, same place).
    let again = share::load_blocking(&child, &opts, None).unwrap();
    let f2 = again
        .assembly
        .files
        .iter()
        .find(|f| f.value.path == "etc/motd")
        .unwrap();
    assert_eq!(f2.value.source.as_deref(), Some(source.to_str().unwrap()));
}

#[test]
fn a_tampered_artifact_is_refused_naming_the_blob_and_leaves_no_output() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let path = write_examples(&work.path().join("src"));
    let assembled = Assembler::new().assemble_file_blocking(&path).unwrap();
    let reference = format!("{}/asm/tampered:v1", reg.host());
    share::push_assembled_blocking(&assembled, &reference, &opts, &NoProgress).unwrap();
    let m = skopeo_raw(&reference);
    let m = match m {
        Some(m) => m,
        None => return,
    };
    let victim = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let data = reg.blob_data_path(&victim);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();

    let out = work.path().join("pulled");
    let e = share::pull_blocking(&reference, &out, &opts, &NoProgress).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains(&victim), "{e}");
    assert!(!out.exists(), "no output");
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| !n.contains("staging")), "{left:?}");

    // A previous output stays as it was.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep"), b"previous").unwrap();
    let e = share::pull_blocking(&reference, &out, &opts, &NoProgress).unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert_eq!(files_under(&out).keys().collect::<Vec<_>>(), ["keep"]);

    // As a parent, the same tampering stops the assembly with a registry error.
    let child = work.path().join("child.toml");
    std::fs::write(
        &child,
        format!("[assembly]\nextends = [\"oci://{reference}\"]\n"),
    )
    .unwrap();
    let e = share::load_blocking(&child, &opts, None).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(
        e.to_string().contains(&victim) && e.to_string().contains("child.toml:2"),
        "{e}"
    );
}

#[test]
fn what_is_not_a_published_assembly_is_refused() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let img = testing::image("amd64", vec![testing::layer(&[("etc/x", b"x")])]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(reg.push_image("plain/image", "v1", &img))
        .unwrap();
    let reference = format!("{}/plain/image:v1", reg.host());
    let e =
        share::pull_blocking(&reference, &work.path().join("o"), &opts, &NoProgress).unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e:?}");
    assert!(format!("{:?}", e.diagnostics()).contains("not a published Stackwright assembly"));
    assert!(!work.path().join("o").exists());

    let e = share::pull_blocking(
        &format!("{}/nope/nothing:v1", reg.host()),
        &work.path().join("o"),
        &opts,
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
}

/// The async API inside a runtime (as a `#[tokio::main]` program calls it): publish, then
/// read a child through its published parent, both awaited on the test's runtime. Before,
/// both started a runtime of their own and panicked here.
#[tokio::test]
async fn push_and_published_parents_run_on_the_callers_runtime() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let opts = options(&reg, &work.path().join("cache"));
    let base_path = work.path().join("base/linuxkit-base.toml");
    std::fs::create_dir_all(base_path.parent().unwrap()).unwrap();
    std::fs::write(&base_path, example("linuxkit-base")).unwrap();
    let base = Assembler::new().assemble_file(&base_path).await.unwrap();
    let uri = format!("oci://{}/asm/linuxkit-base:async", reg.host());
    let published = share::push_assembled(&base, &uri, &opts, &NoProgress)
        .await
        .unwrap();
    let child = work.path().join("remote/docker-host.toml");
    std::fs::create_dir_all(child.parent().unwrap()).unwrap();
    std::fs::write(
        &child,
        example("docker-host").replace("\"linuxkit-base.toml\"", &format!("\"{uri}\"")),
    )
    .unwrap();
    let loaded = share::load(&child, &opts, None).await.unwrap();
    assert_eq!(loaded.parents.len(), 1);
    assert_eq!(loaded.parents[0].digest, published.digest);
    let a = Assembler::new().assemble_loaded(loaded).unwrap();
    assert!(a.resolution.components.contains_key("dockerd"));
    let out = work.path().join("pulled");
    let pulled = share::pull(&uri, &out, &opts, &NoProgress).await.unwrap();
    assert_eq!(pulled.digest, published.digest);
}
