//! Proof that the bundles run: a statically linked test program (built here with
//! `gcc -static`) is put in an image layer, the platform is built as a tar, the tar is
//! extracted with GNU tar, and real `runc` runs the onboot and the service container
//! straight from `containers/…`.
//!
//! Needs root, `runc` (Debian: `apt-get install -y runc`) and `gcc` with static libc.
//! Missing tools fail the test with a message, unless STACKWRIGHT_SKIP_RUNC_TESTS=1.
#![allow(clippy::print_stderr)] // says on the test output why a test skipped

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use stackwright_build::{build, BuildOptions, Format};
use stackwright_types::container::{Container, IdOrName};
use stackwright_types::linuxkit::{Config, Image};

const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char cwd[256];
    const char *g = getenv("GREETING");
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    printf("hello from stackwright: %s GREETING=%s uid=%d gid=%d cwd=%s\n",
           argc > 1 ? argv[1] : "-", g ? g : "(unset)", (int)getuid(), (int)getgid(), cwd);
    return 0;
}
"#;

fn skip_allowed() -> bool {
    std::env::var("STACKWRIGHT_SKIP_RUNC_TESTS").is_ok_and(|v| v == "1")
}

/// Finds a tool or fails (or skips, when allowed) with what to do about it.
fn need(tool: &str, hint: &str) -> Option<PathBuf> {
    let dirs = std::env::var("PATH").unwrap_or_default();
    let found = dirs
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        if skip_allowed() {
            eprintln!("skipping: `{tool}` not found and STACKWRIGHT_SKIP_RUNC_TESTS=1");
            return None;
        }
        panic!("`{tool}` is required for this test: {hint} (or set STACKWRIGHT_SKIP_RUNC_TESTS=1 to skip)");
    }
    found
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

struct Env {
    runc: PathBuf,
    dir: tempfile::TempDir,
    extracted: PathBuf,
}

/// Builds the platform and extracts its tar. `None` when skipping.
fn setup(tag: &str) -> Option<Env> {
    let runc = need("runc", "apt-get update && apt-get install -y runc")?;
    need("gcc", "apt-get install -y gcc libc6-dev")?;
    need("tar", "apt-get install -y tar")?;
    if !is_root() {
        if skip_allowed() {
            return None;
        }
        panic!("running containers with runc needs root (or set STACKWRIGHT_SKIP_RUNC_TESTS=1 to skip)");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let bin = dir.path().join("hello");
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc -static failed (is libc6-dev installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let program = std::fs::read(&bin).unwrap();

    let layout = dir.path().join("images");
    let mut w = LayoutWriter::new(&layout);
    w.image(
        "docker.io/stackwright/hello:test",
        &[
            gzip(&tar_of(&[E::Dir("bin", 0o755), E::File("bin/hello".into(), program, 0o755)])),
            tar_of(&[E::Dir("work", 0o777)]),
        ],
        serde_json::json!({"Cmd": ["/bin/hello", "from-image"], "Env": ["GREETING=image-default"], "WorkingDir": "/work"}),
    );
    let config = Config {
        onboot: vec![Image {
            name: "hello".into(),
            image: "stackwright/hello:test".into(),
            container: Container {
                command: Some(vec!["/bin/hello".into(), "onboot".into()]),
                env: Some(vec![format!("GREETING=hi-{tag}")]),
                ..Default::default()
            },
        }],
        services: vec![Image {
            name: "svc".into(),
            image: "stackwright/hello:test".into(),
            container: Container {
                uid: Some(IdOrName::Id(1000)),
                gid: Some(IdOrName::Id(1000)),
                capabilities: Some(vec!["CAP_NET_BIND_SERVICE".into()]),
                readonly: Some(true),
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let out_dir = dir.path().join("out");
    let mut opts = BuildOptions::new("plat", &out_dir, vec![Format::Tar]);
    opts.temp_dir = Some(dir.path().to_path_buf());
    build(&config, &layout, &opts).unwrap();
    let extracted = dir.path().join("root");
    std::fs::create_dir_all(&extracted).unwrap();
    let out = Command::new("tar")
        .args(["-xpf"])
        .arg(out_dir.join("plat.tar"))
        .arg("--numeric-owner")
        .arg("-C")
        .arg(&extracted)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -x failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(Env {
        runc,
        dir,
        extracted,
    })
}

fn run(env: &Env, bundle: &str, id: &str) -> String {
    let state = env.dir.path().join("runc-state");
    let id = format!("sw-{id}-{}", std::process::id());
    let out = Command::new(&env.runc)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(env.extracted.join(bundle))
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new(&env.runc)
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", &id])
        .output();
    assert!(
        out.status.success(),
        "runc run {bundle} failed ({}):\nstdout: {}\nstderr: {}\nconfig.json: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(env.extracted.join(bundle).join("config.json")).unwrap_or_default()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn onboot_container_runs_with_runc() {
    let Some(env) = setup("onboot") else { return };
    let out = run(&env, "containers/onboot/000-hello", "onboot");
    assert_eq!(
        out.trim(),
        "hello from stackwright: onboot GREETING=hi-onboot uid=0 gid=0 cwd=/work"
    );
}

#[test]
fn service_container_runs_with_runc() {
    let Some(env) = setup("service") else { return };
    let out = run(&env, "containers/services/svc", "service");
    assert_eq!(
        out.trim(),
        "hello from stackwright: from-image GREETING=image-default uid=1000 gid=1000 cwd=/work"
    );
}
