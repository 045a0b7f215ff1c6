//! The init run unprivileged (not PID 1) under a temporary root, with a fake OCI runtime
//! (`tests/fake-runc` runs a bundle's `run.sh`), one case per folder of `tests/cases/`:
//! `boot.json` (the plan), `containers/**/run.sh` (the "containers") and `expect`, one
//! assertion a line:
//!
//! - `exit N`: the init's exit status (0: no failures);
//! - `signal USR2|TERM|USR1`: sent once the status channel says every service started;
//! - `has TEXT` / `lacks TEXT`: the console (stdout, then stderr) contains it or not;
//! - `before A || B`: the first console line containing A comes before the first with B;
//! - `count TEXT = N`: console lines containing TEXT;
//! - `log NAME TEXT`: `/var/log/NAME.log` contains TEXT;
//! - `event JSON`: a status line is exactly JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn first_line(lines: &[&str], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

fn run_case(case: &Path) -> Vec<String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/stackwright")).unwrap();
    std::fs::copy(
        case.join("boot.json"),
        root.join("etc/stackwright/boot.json"),
    )
    .unwrap();
    if case.join("containers").is_dir() {
        copy_dir(&case.join("containers"), &root.join("containers"));
    }
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-runc");
    // A symlink, not a copy: the cases run in parallel threads, and a file just written by
    // one thread can be held open for writing by a process another thread forks at that
    // moment, which makes exec fail with ETXTBSY ("Text file busy").
    std::os::unix::fs::symlink(&fake, root.join("usr/bin/runc")).unwrap();
    let status = tmp.path().join("status");
    let expect = std::fs::read_to_string(case.join("expect")).unwrap();
    let signal = expect
        .lines()
        .find_map(|l| l.strip_prefix("signal "))
        .map(str::trim);

    let mut child = Command::new(env!("CARGO_BIN_EXE_stackwright-init"))
        .arg("--root")
        .arg(&root)
        .arg("--status")
        .arg(&status)
        .arg("--exit-when-idle")
        .env("ROOT", &root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out_pipe = child.stdout.take().unwrap();
    let err_pipe = child.stderr.take().unwrap();
    let read = |mut p: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = p.read_to_string(&mut s);
            s
        })
    };
    let out_t = read(Box::new(out_pipe));
    let err_t = read(Box::new(err_pipe));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = false;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: the init did not finish within 30 s");
        }
        if let (Some(sig), false) = (signal, sent) {
            let started = std::fs::read_to_string(&status)
                .unwrap_or_default()
                .contains("\"services-started\"");
            if started {
                let n = match sig {
                    "USR2" => libc_sig::USR2,
                    "USR1" => libc_sig::USR1,
                    "TERM" => libc_sig::TERM,
                    other => panic!("{name}: unknown signal {other}"),
                };
                Command::new("kill")
                    .arg(format!("-{n}"))
                    .arg(child.id().to_string())
                    .status()
                    .unwrap();
                sent = true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap();
    let stderr = err_t.join().unwrap();
    let events = std::fs::read_to_string(&status).unwrap_or_default();
    let lines: Vec<&str> = stdout.lines().collect();
    let mut failures = Vec::new();
    for l in expect.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
        let ok = match op {
            "signal" => true,
            "exit" => code == Some(rest.parse::<i32>().unwrap()),
            "has" => stdout.contains(rest) || stderr.contains(rest),
            "lacks" => !stdout.contains(rest) && !stderr.contains(rest),
            "before" => {
                let (a, b) = rest.split_once(" || ").expect("before A || B");
                matches!((first_line(&lines, a), first_line(&lines, b)), (Some(x), Some(y)) if x < y)
            }
            "count" => {
                let (t, n) = rest.rsplit_once(" = ").expect("count TEXT = N");
                lines.iter().filter(|l| l.contains(t)).count() == n.parse::<usize>().unwrap()
            }
            "log" => {
                let (n, t) = rest.split_once(' ').expect("log NAME TEXT");
                std::fs::read_to_string(root.join(format!("var/log/{n}.log")))
                    .unwrap_or_default()
                    .contains(t)
            }
            "event" => events.lines().any(|e| e == rest),
            other => panic!("{name}: unknown assertion `{other}`"),
        };
        if !ok {
            failures.push(format!("{name}: `{l}` does not hold"));
        }
    }
    if !failures.is_empty() {
        failures.push(format!(
            "{name}: exit {code:?}\n--- stdout\n{stdout}--- stderr\n{stderr}--- status\n{events}"
        ));
    }
    failures
}

mod libc_sig {
    pub const USR1: i32 = 10;
    pub const USR2: i32 = 12;
    pub const TERM: i32 = 15;
}

#[test]
fn cases() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "the cases are missing");
    // Cases are independent: run them side by side.
    let handles: Vec<_> = cases
        .into_iter()
        .map(|c| std::thread::spawn(move || run_case(&c)))
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
