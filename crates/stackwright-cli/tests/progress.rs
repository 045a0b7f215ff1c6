//! Progress of a pull as the terminal shows it, through the real binary against a real
//! registry on 127.0.0.1 (Debian's `docker-registry`; skipped with
//! STACKWRIGHT_SKIP_REGISTRY_TESTS=1): bars on a terminal (a pseudo-terminal made by
//! python3), plain lines in a pipe and under `-v` (there every blob, cached ones too),
//! nothing under `-q`.

use std::path::Path;
use std::process::{Command, Stdio};

use stackwright_testkit::{self as testing, LocalRegistry};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");
const ESC: &str = "\u{1b}[";

/// An assembly whose kernel, init and one service all come from `host/big:1`.
fn fixture(d: &Path, host: &str) -> std::path::PathBuf {
    let components = d.join("components");
    std::fs::create_dir_all(&components).unwrap();
    for (id, category, stage, cap) in [
        ("bigsvc", "observability", "service", None),
        ("tinykernel", "kernel", "kernel", Some("kernel")),
        ("tinyinit", "init-system", "init", Some("init")),
    ] {
        let provides = cap
            .map(|c| format!("provides = {{ {c} = \"1.0.0\" }}\n"))
            .unwrap_or_default();
        std::fs::write(
            components.join(format!("{id}.toml")),
            format!(
                "id = \"{id}\"\ncategory = \"{category}\"\nsummary = \"test {id}\"\nstage = \"{stage}\"\narch = [\"amd64\"]\n[[release]]\nversion = \"1.0.0\"\nimage = \"{host}/big:1\"\n{provides}"
            ),
        )
        .unwrap();
    }
    let assembly = d.join("big.toml");
    std::fs::write(
        &assembly,
        "[assembly]\nname = \"big\"\narch = \"amd64\"\ncomponent_paths = [\"components\"]\n[components]\nbigsvc = \"*\"\ntinykernel = \"*\"\ntinyinit = \"*\"\n",
    )
    .unwrap();
    assembly
}

/// `assemble --pin --pull` with a fresh cache; returns (exit code, what reached stderr, or
/// the terminal when `tty`).
fn pull(d: &Path, host: &str, run: &str, extra: &[&str], tty: bool) -> (i32, String) {
    let assembly = fixture(d, host);
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(
        [
            "assemble",
            assembly.to_str().unwrap(),
            "--pin",
            "--pull",
            "--out",
            d.join(format!("out-{run}")).to_str().unwrap(),
            "--cache",
            d.join(format!("cache-{run}")).to_str().unwrap(),
            "--insecure-registry",
            host,
        ]
        .map(String::from),
    );
    let mut c = if tty {
        const PTY: &str = r#"
import os, subprocess, sys
m, s = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=s, stdout=subprocess.DEVNULL, stderr=s, close_fds=True)
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
sys.stderr.buffer.write(out)
sys.exit(p.wait())
"#;
        let mut c = Command::new("python3");
        c.arg("-c").arg(PTY).arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    let o = c
        .args(&args)
        .env("HOME", d)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("run stackwright (python3 for the terminal)");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bars_on_a_terminal_lines_elsewhere() {
    let Some(reg) = LocalRegistry::start_or_skip() else {
        return;
    };
    let img = testing::image(
        "amd64",
        vec![
            testing::big_layer(1, 6 << 20),
            testing::big_layer(2, 6 << 20),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(reg.push_image("big", "1", &img)).unwrap();
    let host = reg.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layer = img.layers[0].digest.clone();

    // A pipe: one line per image resolved, the plan, each blob fetched; no escapes.
    let (code, lines) = pull(d, &host, "pipe", &[], false);
    assert_eq!(code, 0, "{lines}");
    assert!(!lines.contains(ESC) && !lines.contains('\r'), "{lines:?}");
    assert!(lines.contains(&format!("fetched {layer} (")), "{lines}");
    assert!(lines.contains("to download"), "{lines}");
    assert!(
        lines.contains(&format!("resolved {host}/big:1 -> sha256:")),
        "{lines}"
    );

    // A terminal: bars (drawn and cleared with escapes), no per-blob lines, one summary.
    let (code, tty) = pull(d, &host, "tty", &[], true);
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains(ESC), "no bar was drawn: {tty:?}");
    assert!(!tty.contains(&format!("fetched {layer}")), "{tty:?}");
    assert!(
        tty.contains(" image(s) resolved; ") && tty.contains(" downloaded ("),
        "no summary: {:?}",
        &tty[tty.len().saturating_sub(700)..]
    );

    // -v on a terminal: lines again, every blob and its start.
    let (code, verbose) = pull(d, &host, "verbose", &["-v"], true);
    assert_eq!(code, 0, "{verbose}");
    assert!(
        verbose.contains(&format!("fetched {layer} (")),
        "{verbose:?}"
    );
    assert!(
        verbose.contains(&format!("fetching {layer} for ")),
        "{verbose:?}"
    );

    // -q: nothing at all, terminal or not.
    let (code, quiet) = pull(d, &host, "quiet", &["-q"], true);
    assert_eq!(code, 0);
    assert_eq!(quiet, "", "-q drew something");
}
