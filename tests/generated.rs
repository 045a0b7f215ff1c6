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
            .assemble_file_blocking(&rel.join("assembly.toml"))
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
            .assemble_file_blocking(&Path::new("generated").join(&name).join("assembly.toml"))
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

/// Every generated CNI network configuration list, parsed.
fn conflists() -> Vec<(String, String, serde_json::Value)> {
    generated(|p| p.starts_with("etc/cni/net.d/"))
        .into_iter()
        .map(|(case, path, body)| {
            let v = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{case}: {path} is not JSON: {e}\n{body}"));
            (case, path, v)
        })
        .collect()
}

/// The CNI specification's rules for a network configuration list
/// (SPEC.md, "Configuration format", spec 1.0.0): what a runtime refuses.
fn cni_spec_problems(v: &serde_json::Value) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(obj) = v.as_object() else {
        return vec!["not a JSON object".into()];
    };
    match obj.get("cniVersion").and_then(|v| v.as_str()) {
        Some(s) if semver::Version::parse(s).is_ok() => {}
        other => bad.push(format!("cniVersion must be a semver string, is {other:?}")),
    }
    // "Must start with an alphanumeric character, optionally followed by any combination
    // of one or more alphanumeric characters, underscore, dot (.) or hyphen (-)."
    match obj.get("name").and_then(|v| v.as_str()) {
        Some(n)
            if n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) => {}
        other => bad.push(format!("name is not a valid network name: {other:?}")),
    }
    match obj.get("plugins").and_then(|v| v.as_array()) {
        Some(plugins) if !plugins.is_empty() => {
            for (i, p) in plugins.iter().enumerate() {
                let Some(p) = p.as_object() else {
                    bad.push(format!("plugins[{i}] is not an object"));
                    continue;
                };
                if !p.get("type").is_some_and(|t| t.is_string()) {
                    bad.push(format!("plugins[{i}].type must be a string"));
                }
                // Well-known keys with a type of their own.
                if let Some(ipam) = p.get("ipam") {
                    if !ipam.get("type").is_some_and(|t| t.is_string()) {
                        bad.push(format!("plugins[{i}].ipam.type must be a string"));
                    }
                }
                if let Some(caps) = p.get("capabilities") {
                    if !caps
                        .as_object()
                        .is_some_and(|m| m.values().all(|b| b.is_boolean()))
                    {
                        bad.push(format!(
                            "plugins[{i}].capabilities must map names to booleans"
                        ));
                    }
                }
                for key in ["ipMasq", "isGateway", "isDefaultGateway"] {
                    if p.get(key).is_some_and(|b| !b.is_boolean()) {
                        bad.push(format!("plugins[{i}].{key} must be a boolean"));
                    }
                }
                if p.get("dns").is_some_and(|d| !d.is_object()) {
                    bad.push(format!("plugins[{i}].dns must be an object"));
                }
            }
        }
        _ => bad.push("plugins must be a non-empty list".into()),
    }
    bad
}

#[test]
fn cni_conflists_have_the_fields_the_spec_requires() {
    let all = conflists();
    assert!(
        all.len() >= 2,
        "only {} conflists among the cases",
        all.len()
    );
    for (case, path, v) in &all {
        let bad = cni_spec_problems(v);
        assert!(bad.is_empty(), "{case}: {path}:\n{}", bad.join("\n"));
    }
    // The check itself refuses what a runtime would.
    for broken in [
        r#"{"name": "x", "plugins": [{"type": "bridge"}]}"#,
        r#"{"cniVersion": "1.0.0", "name": "-x", "plugins": [{"type": "bridge"}]}"#,
        r#"{"cniVersion": "1.0.0", "name": "x", "plugins": []}"#,
        r#"{"cniVersion": "1.0.0", "name": "x", "plugins": [{"bridge": "cni0"}]}"#,
        r#"{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge", "ipMasq": "yes"}]}"#,
    ] {
        let v: serde_json::Value = serde_json::from_str(broken).unwrap();
        assert!(!cni_spec_problems(&v).is_empty(), "accepted: {broken}");
    }
}

/// `addr` (`a.b.c.d/len`) inside `cidr`.
fn in_cidr(addr: &str, cidr: &str) -> bool {
    let ip = |s: &str| -> u32 {
        let a: std::net::Ipv4Addr = s.split('/').next().unwrap().parse().unwrap();
        u32::from(a)
    };
    let len: u32 = cidr.split('/').nth(1).unwrap().parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip(addr) & mask == ip(cidr) & mask
}

/// Runs each generated conflist the way a CNI runtime (libcni) does, with Debian's
/// reference plugins, in a throw-away network namespace: VERSION (our cniVersion is one
/// the plugin speaks), then ADD through the chain (each plugin's config with the list's
/// `name` and `cniVersion`, the previous result, and `runtimeConfig` for the capabilities it
/// declares), CHECK (but portmap's), and DEL in reverse. The pod's eth0 must carry the address host-local
/// gave out, inside our subnet, and portmap's hostPort must be in the NAT table.
#[test]
fn cni_plugins_set_up_pods_with_our_conflists() {
    let Some(cni) = stackwright_testkit::netns::cni_plugins_or_skip() else {
        return;
    };
    let mut ran = 0;
    for (case, path, list) in conflists() {
        let plugins = list["plugins"].as_array().unwrap();
        let types: Vec<&str> = plugins
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        if let Some(t) = types.iter().find(|t| !cni.join(t).is_file()) {
            eprintln!(
                "{case}: {path}: no `{t}` plugin in {}, not run",
                cni.display()
            );
            continue;
        }
        let version = list["cniVersion"].as_str().unwrap();
        let sandbox = stackwright_testkit::netns::NetSandbox::start();
        let conf = |p: &serde_json::Value, prev: Option<&serde_json::Value>| {
            let mut c = p.as_object().unwrap().clone();
            c.insert("name".into(), list["name"].clone());
            c.insert("cniVersion".into(), list["cniVersion"].clone());
            if let Some(prev) = prev {
                c.insert("prevResult".into(), prev.clone());
            }
            if p["capabilities"]["portMappings"] == true {
                c.insert(
                    "runtimeConfig".into(),
                    serde_json::json!({ "portMappings": [
                        { "hostPort": 18080, "containerPort": 80, "protocol": "tcp" }
                    ] }),
                );
            }
            serde_json::Value::Object(c).to_string()
        };
        let mut result: Option<serde_json::Value> = None;
        for (p, t) in plugins.iter().zip(&types) {
            let bin = cni.join(t);
            let v: serde_json::Value = serde_json::from_str(
                &sandbox
                    .cni(&bin, &cni, "VERSION", &conf(p, None))
                    .unwrap_or_else(|e| panic!("{case}: {e}")),
            )
            .unwrap();
            assert!(
                v["supportedVersions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == version),
                "{case}: {t} does not speak cniVersion {version}: {v}"
            );
            let out = sandbox
                .cni(&bin, &cni, "ADD", &conf(p, result.as_ref()))
                .unwrap_or_else(|e| panic!("{case}: {path}: ADD: {e}"));
            result = Some(serde_json::from_str(&out).unwrap());
        }
        let result = result.unwrap();
        // Not portmap's: Debian's 1.1.1 checks an IPv6 chain it never made for an IPv4-only
        // pod (containernetworking/plugins#819, fixed upstream in 1.3).
        for (p, t) in plugins.iter().zip(&types).filter(|(_, t)| **t != "portmap") {
            sandbox
                .cni(&cni.join(t), &cni, "CHECK", &conf(p, Some(&result)))
                .unwrap_or_else(|e| panic!("{case}: {path}: CHECK: {e}"));
        }
        let address = result["ips"][0]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no address in {result}"));
        if let Some(subnet) = plugins[0]["ipam"]["ranges"][0][0]["subnet"].as_str() {
            assert!(
                in_cidr(address, subnet),
                "{case}: {address} is not in {subnet}"
            );
        }
        let addr = sandbox
            .command("ip")
            .args(["-n", "pod", "addr", "show", "eth0"])
            .output()
            .unwrap();
        let addr = String::from_utf8_lossy(&addr.stdout);
        assert!(
            addr.contains(&format!("inet {address}")),
            "{case}: the pod's eth0 has not {address}:\n{addr}"
        );
        if types.contains(&"portmap") {
            let nat = sandbox
                .command("iptables")
                .args(["-t", "nat", "-S"])
                .output()
                .unwrap();
            let nat = String::from_utf8_lossy(&nat.stdout);
            assert!(
                nat.contains("--dport 18080"),
                "{case}: portmap mapped no hostPort:\n{nat}"
            );
        }
        for (p, t) in plugins.iter().zip(&types).rev() {
            sandbox
                .cni(&cni.join(t), &cni, "DEL", &conf(p, Some(&result)))
                .unwrap_or_else(|e| panic!("{case}: {path}: DEL: {e}"));
        }
        ran += 1;
    }
    assert!(ran >= 2, "only {ran} conflists ran");
}
