//! `cargo xtask test`: the whole test suite, on a fresh machine too.
//!
//! The I/O tests need real tools: Debian's `docker-registry` (a real OCI registry),
//! `skopeo` and `umoci` (to check written layouts), `runc` (to run built bundles) and gcc's
//! static libc (to build the test program runc runs). When one is missing and we are root,
//! they are installed with apt-get; otherwise the run stops and says what to install.
//! Then every test runs: nextest when installed (parallel, per-test processes), else
//! `cargo test`; doc tests first and separately, since nextest does not run them.

use std::process::Command;

const TOOLS: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("runc", "runc"),
];

fn have(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn have_static_libc() -> bool {
    std::path::Path::new("/usr/lib/x86_64-linux-gnu/libc.a").exists()
        || std::path::Path::new("/usr/lib/aarch64-linux-gnu/libc.a").exists()
        || std::path::Path::new("/usr/lib/libc.a").exists()
}

fn status(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("+ {cmd:?}");
    let st = cmd.status()?;
    if !st.success() {
        anyhow::bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !have_static_libc() {
        missing.push("libc6-dev");
    }
    if !missing.is_empty() {
        if is_root() {
            status(Command::new("apt-get").args(["update", "-qq"]))?;
            status(
                Command::new("apt-get")
                    .args(["install", "-y", "-qq"])
                    .args(&missing)
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
        } else {
            anyhow::bail!(
                "the I/O tests need: {} — install them (sudo apt-get install -y {}) and rerun",
                missing.join(", "),
                missing.join(" ")
            );
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    // Doc tests first, so the run closes on the main runner's summary.
    status(Command::new(&cargo).args(["test", "--workspace", "--doc"]))?;
    if nextest {
        status(
            Command::new(&cargo)
                .args(["nextest", "run", "--workspace", "--no-fail-fast"])
                .args(args),
        )?;
    } else {
        status(
            Command::new(&cargo)
                .args(["test", "--workspace", "--no-fail-fast"])
                .args(args),
        )?;
    }
    Ok(())
}
