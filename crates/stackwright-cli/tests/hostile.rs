//! Hostile and broken input through the real `stackwright` binary: every file of
//! `tests/broken-inputs/` (and of the older fixture folders) must be refused with a clear
//! diagnostic — never a panic (exit 101), a crash by signal, or a hang.
//!
//! `tests/broken-inputs/expect.txt` gives, per file, the diagnostic code it must produce
//! (or `ok` when the input is acceptable after all). How a file is fed depends on its
//! folder:
//! - `assembly/` — `stackwright check FILE`;
//! - `manifest/` — copied as `thing.toml` into a directory given with `--components`;
//! - `lockfile/` — copied as `stackwright.lock` into the `--out` directory of an assemble
//!   (which must then leave that directory as it was);
//! - `linuxkit/` — `stackwright import linuxkit FILE --out DIR`.
//!
//! Inputs too large to keep in the repository (over the size limit, long `extends`
//! chains, too many components) are generated here.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");
/// Generous for a debug build on a loaded machine; a hang is minutes, not seconds.
const TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Run {
    /// `None` when killed by a signal.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary from the repository root, killing it after [`TIMEOUT`].
fn run(args: &[&str]) -> Result<Run, String> {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(repo())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung: still running after {TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
    })
}

/// What a run must show: no panic, no signal, and (when given) the expected code.
fn judge(what: &str, r: Result<Run, String>, expect: Option<&str>) -> Result<(), String> {
    let r = r.map_err(|e| format!("{what}: {e}"))?;
    let tail = |s: &str| {
        s.chars()
            .rev()
            .take(600)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    };
    match r.code {
        None => return Err(format!("{what}: killed by a signal\n{}", tail(&r.stderr))),
        Some(101) => return Err(format!("{what}: panicked (exit 101)\n{}", tail(&r.stderr))),
        Some(_) => {}
    }
    if r.stderr.contains("panicked at") {
        return Err(format!("{what}: a panic was printed\n{}", tail(&r.stderr)));
    }
    match expect {
        None => Ok(()),
        Some("ok") if r.code == Some(0) => Ok(()),
        Some("ok") => Err(format!(
            "{what}: expected success, got exit {:?}\n{}",
            r.code,
            tail(&r.stderr)
        )),
        Some(code) => {
            // Exit 1 is "invalid input" (SPEC §7); the code must be among the diagnostics.
            let needle = format!("\"code\":\"{code}\"");
            if r.code != Some(1) || !r.stdout.contains(&needle) {
                Err(format!(
                    "{what}: expected exit 1 with {code}, got exit {:?}\nstdout: {}\nstderr: {}",
                    r.code,
                    tail(&r.stdout),
                    tail(&r.stderr)
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Feeds one corpus file the way its folder says.
fn feed(kind: &str, file: &Path, expect: Option<&str>) -> Result<(), String> {
    let shown = file
        .strip_prefix(repo())
        .unwrap_or(file)
        .display()
        .to_string();
    let json = "--message-format=json";
    match kind {
        "assembly" => judge(&shown, run(&["check", json, &shown]), expect),
        "manifest" => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            std::fs::copy(file, dir.path().join("thing.toml")).map_err(|e| e.to_string())?;
            let d = dir.path().to_str().unwrap();
            judge(
                &shown,
                run(&[
                    json,
                    "--components",
                    d,
                    "check",
                    "assemblies/linuxkit-minimal.toml",
                ]),
                expect,
            )
        }
        "lockfile" => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let out = dir.path().join("out");
            std::fs::create_dir(&out).map_err(|e| e.to_string())?;
            std::fs::copy(file, out.join("stackwright.lock")).map_err(|e| e.to_string())?;
            let before = std::fs::read(out.join("stackwright.lock")).unwrap();
            let o = out.to_str().unwrap();
            let result = judge(
                &shown,
                run(&[
                    json,
                    "assemble",
                    "assemblies/linuxkit-minimal.toml",
                    "--out",
                    o,
                ]),
                expect,
            );
            if expect != Some("ok") {
                let after =
                    std::fs::read(out.join("stackwright.lock")).map_err(|e| e.to_string())?;
                if after != before {
                    return Err(format!("{shown}: a refused lock was changed"));
                }
            }
            result
        }
        "linuxkit" => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let out = dir.path().join("out");
            judge(
                &shown,
                run(&[
                    json,
                    "import",
                    "linuxkit",
                    &shown,
                    "--out",
                    out.to_str().unwrap(),
                ]),
                expect,
            )
        }
        other => Err(format!("{shown}: unknown corpus folder {other}")),
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn expectations() -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("tests/broken-inputs/expect.txt"))
        .expect("tests/broken-inputs/expect.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split_whitespace();
            let path = w.next().unwrap().to_string();
            let code = w
                .next()
                .unwrap_or_else(|| panic!("expect.txt: `{l}` has no code"));
            (path, code.to_string())
        })
        .collect()
}

fn report(failures: Vec<String>, ran: usize) {
    assert!(
        failures.is_empty(),
        "{} of {ran} inputs failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_broken_input_is_refused_with_its_diagnostic() {
    let root = repo().join("tests/broken-inputs");
    let expect = expectations();
    let mut files = Vec::new();
    files_under(&root, &mut files);
    files.retain(|f| {
        f.file_name()
            .is_some_and(|n| n != "expect.txt" && n != "README.md")
    });
    files.sort();
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        let kind = rel.split('/').next().unwrap().to_string();
        let Some(code) = expect.get(&rel) else {
            failures.push(format!("{rel}: no line in expect.txt (add `{rel} SWxxxx`)"));
            continue;
        };
        seen.insert(rel.clone());
        if let Err(e) = feed(&kind, f, Some(code)) {
            failures.push(e);
        }
    }
    for k in expect.keys() {
        if !seen.contains(k) {
            failures.push(format!("expect.txt names {k}, which does not exist"));
        }
    }
    report(failures, files.len());
}

#[test]
fn older_fixtures_never_panic() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (dir, kind) in [
        ("tests/assemblies-bad", "assembly"),
        ("tests/manifests", "manifest"),
        ("tests/linuxkit", "linuxkit"),
    ] {
        let mut files = Vec::new();
        files_under(&repo().join(dir), &mut files);
        files.sort();
        for f in files {
            let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
            let fits = match kind {
                "linuxkit" => ext == "yml",
                _ => ext == "toml" && f.file_name().is_some_and(|n| n != "expect.toml"),
            };
            if !fits {
                continue;
            }
            ran += 1;
            if let Err(e) = feed(kind, &f, None) {
                failures.push(e);
            }
        }
    }
    report(failures, ran);
}

#[test]
fn generated_oversized_inputs_are_input_limits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut failures = Vec::new();
    let mut check = |what: &str, path: &Path, code: &str| {
        let p = path.to_str().unwrap();
        if let Err(e) = judge(
            what,
            run(&["check", "--message-format=json", p]),
            Some(code),
        ) {
            failures.push(e);
        }
    };

    // Over the 4 MiB input limit (a comment, so only the size is wrong).
    let big = d.join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(4 * 1024 * 1024 + 1))).unwrap();
    check("4 MiB + 1 assembly", &big, "SW0107");

    // 20,000 nested arrays, written here too in case the stored file is edited.
    let deep = d.join("deep.toml");
    std::fs::write(
        &deep,
        format!("x = {}{}\n", "[".repeat(20_000), "]".repeat(20_000)),
    )
    .unwrap();
    check("20,000 nested arrays", &deep, "SW0107");

    // An `extends` chain of 40 files (the limit is 32).
    for i in 0..40 {
        let text = if i < 39 {
            format!("[assembly]\nextends = [\"chain-{}.toml\"]\n", i + 1)
        } else {
            "[components]\ngetty = \"*\"\n".to_string()
        };
        std::fs::write(d.join(format!("chain-{i}.toml")), text).unwrap();
    }
    check("extends chain of 40", &d.join("chain-0.toml"), "SW0107");

    // More components than an assembly may list.
    let mut many = String::from("[components]\n");
    for i in 0..10_001 {
        many.push_str(&format!("c-{i} = \"*\"\n"));
    }
    let many_p = d.join("many.toml");
    std::fs::write(&many_p, many).unwrap();
    check("10,001 components", &many_p, "SW0107");

    // A component directory with more files than a registry may load.
    let comps = d.join("components");
    std::fs::create_dir(&comps).unwrap();
    for i in 0..10_001 {
        std::fs::write(comps.join(format!("c-{i}.toml")), "").unwrap();
    }
    let r = run(&[
        "--message-format=json",
        "--components",
        comps.to_str().unwrap(),
        "check",
        "assemblies/linuxkit-minimal.toml",
    ]);
    if let Err(e) = judge("10,001 component files", r, Some("SW0107")) {
        failures.push(e);
    }
    report(failures, 5);
}
