//! The command line's conventions, run through the real binary: `--deny-warnings`,
//! `--color`, `-q`/`-v`.
//!
//! Colour on a terminal is checked on a real pseudo-terminal (python3's `os.openpty`, the
//! binary's stdin, stdout and stderr on the slave side).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");
const WARNS: &str = "tests/assemblies-warn/image-without-tag/assembly.toml";
const ESC: &str = "\u{1b}[";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(repo())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null());
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command(args).output().expect("run stackwright");
    Run {
        code: status.code().expect("exited"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[test]
fn deny_warnings_turns_a_warning_into_exit_1() {
    let plain = run(&["check", WARNS]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.stderr.contains("warning[SW0509]"), "{}", plain.stderr);

    let denied = run(&["--deny-warnings", "check", WARNS]);
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(
        denied.stderr.contains("warning[SW0509]"),
        "{}",
        denied.stderr
    );
    assert!(
        denied
            .stderr
            .ends_with("error: 1 warning(s) denied by --deny-warnings\n"),
        "{}",
        denied.stderr
    );
    // Global: after the subcommand too, and with JSON diagnostics (then no closing line,
    // stdout stays JSON lines).
    let json = run(&[
        "check",
        WARNS,
        "--deny-warnings",
        "--message-format",
        "json",
    ]);
    assert_eq!(json.code, 1);
    for line in json.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON line");
    }
    assert!(json.stdout.contains("\"SW0509\""), "{}", json.stdout);
    // -q hides warnings, but not the ones that fail the run.
    let quiet = run(&["-q", "--deny-warnings", "check", WARNS]);
    assert_eq!(quiet.code, 1);
    assert!(quiet.stderr.contains("warning[SW0509]"), "{}", quiet.stderr);
    // Nothing to deny: still 0.
    assert_eq!(
        run(&["--deny-warnings", "check", "assemblies/k3s-edge.toml"]).code,
        0
    );
    // An error keeps its own exit code.
    assert_eq!(
        run(&[
            "--deny-warnings",
            "check",
            "tests/assemblies-bad/two-pod-networks/assembly.toml"
        ])
        .code,
        1
    );
    assert_eq!(
        run(&["--deny-warnings", "check", "does/not/exist.toml"]).code,
        3
    );
}

#[test]
fn color_always_never_and_auto_in_a_pipe() {
    let always = run(&["--color", "always", "check", WARNS]);
    assert!(always.stderr.contains(ESC), "{:?}", always.stderr);
    assert!(
        always.stderr.contains("\u{1b}[1m\u{1b}[33mwarning[SW0509]"),
        "{:?}",
        always.stderr
    );
    // Colour is for diagnostics: stdout (a result someone may parse) stays plain.
    assert!(!always.stdout.contains(ESC), "{:?}", always.stdout);
    let never = run(&["--color", "never", "check", WARNS]);
    assert!(!never.stderr.contains(ESC), "{:?}", never.stderr);
    // The same text, styles aside.
    assert_eq!(never.stderr, strip(&always.stderr));
    let auto = run(&["check", WARNS]);
    assert!(!auto.stderr.contains(ESC), "{:?}", auto.stderr);
    assert_eq!(auto.stderr, never.stderr);
    // CLICOLOR_FORCE asks auto for colour even into a pipe.
    let forced = command(&["check", WARNS])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&forced.stderr).contains(ESC));
    assert_eq!(run(&["--color", "sometimes", "check", WARNS]).code, 2);
    // clap's own usage errors and help follow --color too.
    let usage = run(&["--color=always", "check", "--no-such-flag"]);
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains(ESC), "{:?}", usage.stderr);
    let usage = run(&["check", "--no-such-flag"]);
    assert!(!usage.stderr.contains(ESC), "{:?}", usage.stderr);
}

/// Runs the binary on a pseudo-terminal; returns everything it wrote there.
fn on_a_terminal(args: &[&str], no_color: bool) -> String {
    const PTY: &str = r#"
import os, subprocess, sys
m, s = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=s, stdout=s, stderr=s, close_fds=True)
os.close(s)
out = b""
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
p.wait()
sys.stdout.buffer.write(out)
sys.exit(p.returncode)
"#;
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(PTY)
        .arg(BIN)
        .args(args)
        .current_dir(repo())
        .env("TERM", "xterm-256color")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c
        .output()
        .expect("python3 (CI has it) to run the binary on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn color_auto_on_a_terminal_and_no_color() {
    let tty = on_a_terminal(&["check", WARNS], false);
    assert!(tty.contains("warning[SW0509]"), "{tty:?}");
    assert!(tty.contains(ESC), "no colour on a terminal: {tty:?}");
    let no_color = on_a_terminal(&["check", WARNS], true);
    assert!(no_color.contains("warning[SW0509]"), "{no_color:?}");
    assert!(!no_color.contains(ESC), "NO_COLOR ignored: {no_color:?}");
    let never = on_a_terminal(&["--color", "never", "check", WARNS], false);
    assert!(!never.contains(ESC), "{never:?}");
    let help = on_a_terminal(&["check", "--help", "--color", "never"], false);
    assert!(
        help.contains("Examples:") && !help.contains(ESC),
        "{help:?}"
    );
    let help = on_a_terminal(&["check", "--help"], false);
    assert!(
        help.contains(ESC),
        "clap's help is plain on a terminal: {help:?}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    for args in [
        vec!["-q", "check", "assemblies/k8s-worker.toml"],
        vec!["--quiet", "check", WARNS],
        vec![
            "assemble",
            "-q",
            "assemblies/k8s-worker.toml",
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?} printed on stdout");
        assert_eq!(r.stderr, "", "{args:?} printed on stderr");
    }
    assert!(out.join("stackwright.lock").is_file());
    // Errors still show.
    let bad = run(&[
        "-q",
        "check",
        "tests/assemblies-bad/two-pod-networks/assembly.toml",
    ]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("error[SW0401]"), "{}", bad.stderr);
    // Without -q the same commands do talk.
    let normal = run(&["check", "assemblies/k8s-worker.toml"]);
    assert!(normal.stdout.contains(": ok ("), "{}", normal.stdout);
}

#[test]
fn quiet_and_verbose_exclude_each_other() {
    let r = run(&["-q", "-v", "check", WARNS]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    assert_eq!(run(&["-v", "check", WARNS]).code, 0);
}

/// Text without ANSI escape sequences (CSI … final byte).
fn strip(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_library_report_is_what_the_command_line_prints() {
    // `stackwright::report` (what a program prints, e.g. examples/custom_platform.rs) is
    // the command line's stderr without colour: errors and warnings, then the summary.
    for (file, code) in [
        (
            "tests/assemblies-bad/config-problems-all-at-once/assembly.toml",
            1,
        ),
        (WARNS, 0),
    ] {
        let cli = run(&["--color", "never", "check", file]);
        assert_eq!(cli.code, code, "{}", cli.stderr);
        let path = repo().join(file);
        let diags = match stackwright::Assembler::new().assemble_file_blocking(&path) {
            Ok(a) => a.warnings().to_vec(),
            Err(e) => e.diagnostics(),
        };
        assert!(!diags.is_empty());
        // The command line ran in the repository with a relative path.
        let report = stackwright::report(&diags).replace(&format!("{}/", repo().display()), "");
        assert_eq!(cli.stderr, report);
    }
}
