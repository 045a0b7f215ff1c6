//! A reader that stops early: every command that writes to stdout, run through the real
//! binary with its stdout a pipe whose reading end is already closed, must end quietly —
//! its own exit code, nothing on stderr about the pipe, never a panic (exit 101).
//!
//! Closing the pipe before the program writes makes the failure certain (the first write
//! gets `EPIPE`); `| head -2`, where the reader leaves after two lines, is checked too.
//! `push` and `pull` run against a real registry on 127.0.0.1 (skipped with
//! STACKWRIGHT_SKIP_REGISTRY_TESTS=1).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stackwright_testkit::LocalRegistry;

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(repo())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs with stdout closed before the first write; returns (exit code, stderr).
fn closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = command(args).spawn().expect("spawn stackwright");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

fn assert_quiet(args: &[&str], expected: i32) {
    let (code, err) = closed_stdout(args);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("stdout"),
        "{args:?} complained about the closed pipe:\n{err}"
    );
    assert_eq!(
        code,
        Some(expected),
        "{args:?} with a closed stdout:\n{err}"
    );
}

#[test]
fn every_command_ends_quietly_when_stdout_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("w");
    let imported = tmp.path().join("imported");
    let cases: &[(&[&str], i32)] = &[
        (&["components"], 0),
        (&["--message-format", "json", "components"], 0),
        (&["show", "kubelet"], 0),
        (&["--message-format", "json", "show", "kubelet"], 0),
        (&["check", "assemblies/k8s-worker.toml"], 0),
        (
            &[
                "--message-format",
                "json",
                "check",
                "tests/assemblies-bad/two-pod-networks/assembly.toml",
            ],
            1,
        ),
        (&["explain", "assemblies/k8s-worker.toml"], 0),
        (&["why", "assemblies/k8s-worker.toml", "kubelet"], 0),
        (
            &[
                "assemble",
                "assemblies/k8s-worker.toml",
                "--out",
                out.to_str().unwrap(),
            ],
            0,
        ),
        (
            &[
                "import",
                "linuxkit",
                "tests/linuxkit/sshd/input.yml",
                "--out",
                imported.to_str().unwrap(),
            ],
            0,
        ),
        (&["--help"], 0),
    ];
    for (args, code) in cases {
        assert_quiet(args, *code);
    }
    // The work was still done.
    assert!(out.join("stackwright.lock").is_file());
    assert!(imported.join("assembly.toml").is_file());
}

#[test]
fn head_two_ends_quietly() {
    let mut child = command(&["components"]).spawn().expect("spawn stackwright");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Vec<String> = (&mut lines).take(2).map(Result::unwrap).collect();
    assert_eq!(first.len(), 2);
    assert!(first[0].starts_with("id"), "{first:?}");
    drop(lines);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn push_and_pull_end_quietly_when_stdout_is_closed() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let reference = format!("{}/pipe/k8s-worker:1", reg.host());
    let host = reg.host();
    let cache_s = cache.to_str().unwrap();
    assert_quiet(
        &[
            "push",
            "assemblies/k8s-worker.toml",
            &reference,
            "--insecure-registry",
            &host,
            "--cache",
            cache_s,
        ],
        0,
    );
    let pulled = tmp.path().join("pulled");
    assert_quiet(
        &[
            "pull",
            &reference,
            "--out",
            pulled.to_str().unwrap(),
            "--insecure-registry",
            &host,
            "--cache",
            cache_s,
        ],
        0,
    );
    assert!(pulled.join("stackwright.lock").is_file());
}
