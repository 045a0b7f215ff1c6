//! Exit codes of registry failures through the real binary (SPEC §7: 3 for I/O and
//! registries), with the registry client's cause in the message: a published parent
//! and a push to a registry that refuses connections (127.0.0.1:1, so no network and no
//! retries), and a usage error for an unknown format (2).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str], cache: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--cache")
        .arg(cache)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run stackwright");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unreachable_published_parent_is_exit_3_naming_the_cause() {
    let work = tempfile::tempdir().unwrap();
    let child = work.path().join("child.toml");
    std::fs::write(
        &child,
        "[assembly]\nextends = [\"oci://127.0.0.1:1/asm/base:v1\"]\n\n[components]\ndockerd = \"*\"\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let (code, stderr) = run(
        &[
            "assemble",
            child.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &work.path().join("cache"),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot fetch the parent assembly oci://127.0.0.1:1/asm/base:v1"),
        "{stderr}"
    );
    // The registry client's own words (a refused connection), at the `extends` line.
    assert!(
        stderr.contains("cannot reach registry 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("child.toml:2"), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_push_to_an_unreachable_registry_is_exit_3() {
    let work = tempfile::tempdir().unwrap();
    let (code, stderr) = run(
        &[
            "push",
            "assemblies/docker-host.toml",
            "127.0.0.1:1/asm/docker-host:v1",
        ],
        &work.path().join("cache"),
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot reach registry 127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    let (code, stderr) = run(
        &["assemble", "assemblies/docker-host.toml", "--format", "zip"],
        &work.path().join("cache"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown --format `zip`"), "{stderr}");
}

#[test]
fn a_bad_publish_value_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    for bad in ["8080", "localhost:8080:80", "8080:0", "1:2:3:4"] {
        let (code, stderr) = run(
            &[
                "run",
                "qemu",
                work.path().to_str().unwrap(),
                "--publish",
                bad,
            ],
            work.path(),
        );
        assert_eq!(code, 2, "--publish {bad}: {stderr}");
        assert!(
            stderr.contains(&format!("--publish {bad}")) && stderr.contains("[ADDR:]HOST:GUEST"),
            "{stderr}"
        );
    }
}
