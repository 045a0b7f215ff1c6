//! `cargo xtask test`: the whole test suite, on a fresh machine too.
//!
//! The I/O tests need real tools: Debian's `docker-registry` (a real OCI registry),
//! `skopeo` and `umoci` (to check written layouts), `runc` (to run built bundles) and gcc's
//! static libc (to build the test program runc runs), and Debian's `containerd` and
//! `ssh-keygen` (they read the config.toml and authorized_keys files we generate:
//! `containerd --config FILE config dump`, `ssh-keygen -lf FILE`), and Debian's CNI
//! plugins (`containernetworking-plugins`, in /usr/lib/cni) with `iptables` and `ip`,
//! which set up a pod with each generated conflist in a network namespace. When one is
//! missing and we are root, they are installed with apt-get; otherwise the run stops and
//! says what to install. The SBOM tests need the reference validators from PyPI
//! (spdx-tools, cyclonedx-python-lib), installed with pip when missing.
//! Then every test runs: nextest when installed (parallel, per-test processes), else
//! `cargo test`; doc tests first and separately, since nextest does not run them.
//!
//! The boot test (crates/stackwright-cli/tests/boot.rs) also needs `qemu-system-x86_64`,
//! a static busybox and a real kernel: Debian's cloud kernel, the package
//! `linux-image-cloud-amd64` depends on, fetched with `apt-get download` and unpacked with
//! `dpkg-deb -x` into `target/boot-kernel/` once (kept there as a cache).
//!
//! The end-to-end test (crates/stackwright-cli/tests/e2e.rs) needs the Debian packages its
//! component library (`tests/e2e/components/`) names, fetched with `apt-get download`
//! into `target/e2e-debs/` once and checked against the SHA256 of the archive's signed
//! index (`debs.rs`). `cargo xtask fetch` does only these downloads.
//!
//! The disk image tests (crates/stackwright-disk/tests, crates/stackwright-cli/tests/
//! disk_boot.rs) need what `stackwright-disk` runs (`stackwright_disk::TOOLS`: GRUB's
//! `grub-mkimage` and its BIOS and EFI modules, xorriso, qemu-img), OVMF for the EFI
//! boots, and sfdisk and mtools to check the images.

use std::process::Command;

const TOOLS: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("runc", "runc"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    // The generated-configuration tests (tests/generated.rs) hand our files to the daemons.
    ("containerd", "containerd"),
    // …and run the CNI plugins on our conflists in a network namespace (testkit `netns`).
    ("iptables", "iptables"),
    ("ip", "iproute2"),
    // The packaged-components tests (crates/stackwright-cli/tests/packaged.rs) build a .deb.
    ("dpkg-deb", "dpkg"),
    // The disk image tests check partition tables and FAT contents.
    ("sfdisk", "fdisk"),
    ("mdir", "mtools"),
    // The LZ4 initrd (`[kernel] initrd = "lz4"`) is read back by the reference tool.
    ("lz4", "lz4"),
];

/// Where the boot test finds the kernel (`x/boot/vmlinuz-*`).
const KERNEL_DIR: &str = "target/boot-kernel";

fn have_kernel() -> bool {
    std::fs::read_dir(format!("{KERNEL_DIR}/x/boot"))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))
        })
        .unwrap_or(false)
}

/// `apt-get download` of the kernel package `linux-image-cloud-amd64` depends on, unpacked
/// with `dpkg-deb -x`.
fn fetch_kernel() -> anyhow::Result<()> {
    if is_root() {
        status(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    let deps = Command::new("apt-cache")
        .args(["depends", "linux-image-cloud-amd64"])
        .output()?;
    let text = String::from_utf8_lossy(&deps.stdout);
    let package = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .ok_or_else(|| anyhow::anyhow!("apt-cache depends linux-image-cloud-amd64 names no kernel package (apt-get update?)"))?
        .trim()
        .to_string();
    std::fs::create_dir_all(KERNEL_DIR)?;
    status(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(KERNEL_DIR),
    )?;
    let deb = std::fs::read_dir(KERNEL_DIR)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with(&package) && n.to_string_lossy().ends_with(".deb")
            })
        })
        .ok_or_else(|| {
            anyhow::anyhow!("apt-get download {package} left no .deb in {KERNEL_DIR}")
        })?;
    status(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(format!("{KERNEL_DIR}/x")),
    )
}

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

pub(crate) fn status(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("+ {cmd:?}");
    let st = cmd.status()?;
    if !st.success() {
        anyhow::bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// The downloads the boot and end-to-end tests need (`cargo xtask fetch` alone): the
/// kernel into `target/boot-kernel/`, the component library's `.deb`s into
/// `target/e2e-debs/` (see `debs.rs`). Each only once.
pub fn fetch() -> anyhow::Result<()> {
    if !have_kernel() {
        fetch_kernel()?;
    }
    crate::debs::fetch(is_root())
}

/// The Debian packages of the tools the I/O tests run that this machine lacks.
fn missing_packages() -> Vec<String> {
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|(bin, _)| !have(bin))
        .map(|(_, pkg)| (*pkg).to_string())
        .collect();
    if !have_static_libc() {
        missing.push("libc6-dev".into());
    }
    for t in stackwright_disk::TOOLS {
        if t.find().is_err() && !missing.iter().any(|m| m == t.package) {
            missing.push(t.package.into());
        }
    }
    if !stackwright_qemu::OVMF
        .iter()
        .any(|p| std::path::Path::new(p).is_file())
    {
        missing.push("ovmf".into());
    }
    // The reference CNI plugins live outside PATH.
    if !std::path::Path::new("/usr/lib/cni/bridge").is_file() {
        missing.push("containernetworking-plugins".into());
    }
    missing
}

/// `cargo xtask setup` (and the first step of `test`): installs the tools the I/O tests
/// run when they are missing (apt-get, as root), then the downloads (`fetch`) and the SBOM
/// validators.
pub fn setup() -> anyhow::Result<()> {
    let missing = missing_packages();
    if !missing.is_empty() {
        if !is_root() {
            anyhow::bail!(
                "the I/O tests need: {} — install them (sudo apt-get install -y {}) and rerun",
                missing.join(", "),
                missing.join(" ")
            );
        }
        status(Command::new("apt-get").args(["update", "-qq"]))?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        if let Some(pin) = qemu_utils_pin(&missing)? {
            // The machine image ships a newer qemu-utils (a backport) than the
            // distribution's qemu-system-x86, and the newer one `Breaks` the older
            // qemu-system-common: apt would remove qemu-utils (and with it qemu-img, which
            // the disk tests run) rather than downgrade it. Ask for the matching version.
            install.arg("--allow-downgrades").arg(pin);
        }
        status(install.args(&missing))?;
        // What apt removed to make room (qemu-img, once) is missing as much as what it
        // did not install.
        let still = missing_packages();
        if !still.is_empty() {
            anyhow::bail!("after apt-get install, still missing: {}", still.join(", "));
        }
    }
    fetch()?;
    sbom_validators()
}

/// The whole test suite, after `setup`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    setup()?;
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

/// `qemu-utils=VERSION` when qemu-system-x86 is to be installed and the installed
/// qemu-utils is not the version apt would install qemu-system-x86 at (the two must match:
/// each `Breaks` the other's other versions).
fn qemu_utils_pin(missing: &[String]) -> anyhow::Result<Option<String>> {
    if !missing.iter().any(|m| m == "qemu-system-x86") {
        return Ok(None);
    }
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "qemu-utils"])
        .output()?;
    if !installed.status.success() {
        return Ok(None); // not installed: apt picks the matching one
    }
    let installed = String::from_utf8_lossy(&installed.stdout)
        .trim()
        .to_string();
    let policy = Command::new("apt-cache")
        .args(["policy", "qemu-system-x86"])
        .output()?;
    let policy = String::from_utf8_lossy(&policy.stdout);
    let candidate = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .ok_or_else(|| {
            anyhow::anyhow!("apt-cache policy qemu-system-x86 names no candidate (apt-get update?)")
        })?;
    Ok((candidate != installed).then(|| format!("qemu-utils={candidate}")))
}

/// The reference SBOM validators (PyPI: spdx-tools' `pyspdxtools`, cyclonedx-python-lib's
/// JSON validator), installed with pip when missing. On a Debian python3 that refuses
/// system-wide pip installs (PEP 668), retried with `--break-system-packages`.
fn sbom_validators() -> anyhow::Result<()> {
    let present = || {
        Command::new("python3")
            .args([
                "-c",
                "import spdx_tools, cyclonedx.validation.json, jsonschema",
            ])
            .status()
            .is_ok_and(|s| s.success())
            && have("pyspdxtools")
    };
    if present() {
        return Ok(());
    }
    let pkgs = ["spdx-tools", "cyclonedx-python-lib[json-validation]"];
    let pip = |extra: &[&str]| {
        status(
            Command::new("python3")
                .args(["-m", "pip", "install", "-q"])
                .args(extra)
                .args(pkgs),
        )
    };
    if pip(&[]).is_err() {
        pip(&["--break-system-packages"])?;
    }
    if !present() {
        anyhow::bail!(
            "pip installed {} but `pyspdxtools` is not on PATH: add pip's script directory to PATH",
            pkgs.join(" and ")
        );
    }
    Ok(())
}
