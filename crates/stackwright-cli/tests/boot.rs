#![allow(clippy::print_stderr)] // says why it skips
//! Boots what Stackwright builds, on a real kernel under qemu (TCG unless KVM works).
//!
//! The platform is made of images this test makes itself in a local registry: Debian's
//! cloud kernel, runc (Debian's binary and the libraries `ldd` lists), busybox for the
//! containers, plus the built-in `stackwright-init` (its image made by Stackwright). It has
//! one onboot container, a service that another waits for (TCP readiness), a service that
//! crashes once and is restarted, and a poweroff service (`pid = "host"`, `CAP_SYS_BOOT`,
//! `busybox poweroff -f`). `stackwright assemble --pull --format kernel+initrd` builds
//! it and `stackwright run qemu` boots it; the order is asserted from the console. A
//! second platform with a failing onboot container must exit 1 naming it.
//!
//! Needs qemu-system-x86_64, busybox (static), runc and the kernel that `cargo xtask test`
//! fetches into `target/boot-kernel/` (or `STACKWRIGHT_TEST_KERNEL=<vmlinuz>`). Missing
//! tools are a failure with the install command, unless `STACKWRIGHT_SKIP_BOOT_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stackwright_testkit::{self as testing, LocalRegistry};

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

fn skip(why: &str) -> bool {
    if std::env::var_os("STACKWRIGHT_SKIP_BOOT_TESTS").is_some() {
        eprintln!("skipping the boot test: {why}");
        return true;
    }
    panic!("{why} (or set STACKWRIGHT_SKIP_BOOT_TESTS=1 to skip)");
}

fn kernel() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("STACKWRIGHT_TEST_KERNEL") {
        return Some(PathBuf::from(k));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/boot-kernel/x/boot");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
}

fn which(p: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(p))
        .find(|p| p.is_file())
}

/// A program and the shared libraries `ldd` lists, at the paths it lists them.
fn with_libraries(program: &Path, at: &str) -> Vec<(String, u32, Vec<u8>)> {
    let mut files = vec![(at.to_string(), 0o755, std::fs::read(program).unwrap())];
    let out = Command::new("ldd").arg(program).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            let bytes = std::fs::read(p).unwrap();
            files.push((p.trim_start_matches('/').to_string(), 0o755, bytes));
        }
    }
    files
}

fn moded(files: &[(String, u32, Vec<u8>)]) -> testing::TestLayer {
    let v: Vec<(&str, u32, &[u8])> = files
        .iter()
        .map(|(p, m, b)| (p.as_str(), *m, b.as_slice()))
        .collect();
    testing::layer_with_modes(&v)
}

struct Platform {
    dir: tempfile::TempDir,
    host: String,
}

impl Platform {
    fn components(&self) -> PathBuf {
        self.dir.path().join("components")
    }

    fn component(&self, id: &str, body: &str) {
        std::fs::write(self.components().join(format!("{id}.toml")), body).unwrap();
    }

    /// A busybox container component.
    fn container(&self, id: &str, stage: &str, extra: &str, script: &str, release: &str) {
        let script = script.replace('"', "\\\"");
        self.component(
            id,
            &format!(
                "id = \"{id}\"\ncategory = \"observability\"\nsummary = \"boot test {id}\"\nstage = \"{stage}\"\narch = [\"amd64\"]\n{extra}\n[container]\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", \"{script}\"]\n\n[[release]]\nversion = \"1.0.0\"\nimage = \"{}/test/busybox:1\"\n{release}\n",
                self.host
            ),
        );
    }

    fn assembly(&self, name: &str, components: &[&str]) -> PathBuf {
        let list: String = components
            .iter()
            .map(|c| format!("{c} = \"*\"\n"))
            .collect();
        let p = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[assembly]\nname = \"{name}\"\narch = \"amd64\"\ncomponent_paths = [\"components\"]\n\n[components]\nboot-kernel = \"*\"\nstackwright-init = \"*\"\ntest-runc = \"*\"\n{list}\n[prefer]\noci-runtime = \"test-runc\"\n\n[kernel]\ncmdline = \"console=ttyS0\"\n"
            ),
        )
        .unwrap();
        p
    }

    /// assemble --pull --format kernel+initrd, then run qemu; (exit code, stdout, stderr).
    fn boot(&self, assembly: &Path) -> (i32, String, String) {
        let out = self
            .dir
            .path()
            .join("out")
            .join(assembly.file_stem().unwrap());
        let cache = self.dir.path().join("cache");
        let a = Command::new(BIN)
            .arg("assemble")
            .arg(assembly)
            .arg("--out")
            .arg(&out)
            .arg("--cache")
            .arg(&cache)
            .args(["--insecure-registry", &self.host])
            .args(["--pull", "--format", "kernel+initrd"])
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            a.status.success(),
            "assemble failed:\n{}{}",
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&a.stderr)
        );
        let r = Command::new(BIN)
            .args(["run", "qemu"])
            .arg(&out)
            .args(["--timeout", "120", "--mem", "512"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            r.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    }
}

fn setup() -> Option<(Platform, LocalRegistry)> {
    let Some(vmlinuz) = kernel() else {
        skip("no kernel: `cargo xtask test` fetches Debian's cloud kernel into target/boot-kernel")
            .then_some(())?;
        return None;
    };
    let (Some(_), Some(busybox), Some(runc)) =
        (which("qemu-system-x86_64"), which("busybox"), which("runc"))
    else {
        skip("qemu-system-x86_64, busybox and runc are needed: apt-get install -y qemu-system-x86 busybox-static runc")
            .then_some(())?;
        return None;
    };
    let reg = LocalRegistry::start_or_skip()?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kernel_img = testing::image(
        "amd64",
        // LinuxKit's kernel image layout: `kernel`, and `kernel.tar` of modules (none:
        // everything the boot needs is built in).
        vec![moded(&[
            ("kernel".into(), 0o644, std::fs::read(&vmlinuz).unwrap()),
            ("kernel.tar".into(), 0o644, vec![0u8; 1024]),
        ])],
    );
    let runc_img = testing::image("amd64", vec![moded(&with_libraries(&runc, "usr/bin/runc"))]);
    let busybox_img = testing::image(
        "amd64",
        vec![moded(&[(
            "bin/busybox".into(),
            0o755,
            std::fs::read(&busybox).unwrap(),
        )])],
    );
    rt.block_on(async {
        reg.push_image("test/kernel", "6.1", &kernel_img).await?;
        reg.push_image("test/runc", "1", &runc_img).await?;
        reg.push_image("test/busybox", "1", &busybox_img).await
    })
    .unwrap();
    let p = Platform {
        dir: tempfile::tempdir().unwrap(),
        host: reg.host(),
    };
    std::fs::create_dir(p.components()).unwrap();
    p.component(
        "boot-kernel",
        &format!(
            "id = \"boot-kernel\"\ncategory = \"kernel\"\nsummary = \"Debian's cloud kernel\"\nstage = \"kernel\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"6.1.0\"\nimage = \"{}/test/kernel:6.1\"\nprovides = {{ kernel = \"6.1.0\" }}\nkernel_config = [\"CONFIG_CGROUPS=y\", \"CONFIG_DEVTMPFS=y\"]\n",
            p.host
        ),
    );
    p.component(
        "test-runc",
        &format!(
            "id = \"test-runc\"\ncategory = \"runtime\"\nsummary = \"Debian's runc with its libraries\"\nstage = \"init\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"1.1.5\"\nimage = \"{}/test/runc:1\"\nprovides = {{ oci-runtime = \"1.1.5\" }}\n",
            p.host
        ),
    );
    Some((p, reg))
}

fn line_of(console: &str, needle: &str) -> usize {
    console
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` is not on the console:\n{console}"))
}

#[test]
fn a_platform_boots_in_dependency_order_and_powers_off() {
    let Some((p, _reg)) = setup() else { return };
    p.container("hello", "onboot", "", "echo hello from onboot", "");
    p.container(
        "db",
        "service",
        "[service]\nready = { tcp = 7000 }\nready_timeout = 60\n",
        "/bin/busybox sleep 1; echo db listening; exec /bin/busybox httpd -f -p 7000 -h /",
        "",
    );
    std::fs::write(
        p.components().join("db.toml"),
        std::fs::read_to_string(p.components().join("db.toml"))
            .unwrap()
            .replace("[container]\n", "[container]\nnet = \"host\"\n"),
    )
    .unwrap();
    p.container(
        "app",
        "service",
        "",
        "echo app started after db",
        "requires = { db = \"*\" }",
    );
    p.container(
        "flaky",
        "service",
        "[service]\nrestart = \"on-failure\"\nbackoff_ms = 200\n",
        "if [ -f /run/flaky ]; then echo flaky second life; exec /bin/busybox sleep 600; fi; /bin/busybox touch /run/flaky; echo flaky crashing; exit 3",
        "",
    );
    std::fs::write(
        p.components().join("flaky.toml"),
        std::fs::read_to_string(p.components().join("flaky.toml"))
            .unwrap()
            .replace("[container]\n", "[container]\nbinds = [\"/run:/run\"]\n"),
    )
    .unwrap();
    p.container(
        "shutdown",
        "service",
        "",
        "/bin/busybox sleep 2; echo powering off; /bin/busybox poweroff -f",
        "requires = { app = \"*\", flaky = \"*\" }",
    );
    std::fs::write(
        p.components().join("shutdown.toml"),
        std::fs::read_to_string(p.components().join("shutdown.toml"))
            .unwrap()
            .replace(
                "[container]\n",
                "[container]\npid = \"host\"\ncapabilities = [\"CAP_SYS_BOOT\"]\n",
            ),
    )
    .unwrap();
    let asm = p.assembly("boots", &["hello", "db", "app", "flaky", "shutdown"]);
    let (code, console, stderr) = p.boot(&asm);
    let all = format!("{console}\n--- stderr\n{stderr}");
    assert_eq!(code, 0, "run qemu exit code\n{all}");
    let onboot = line_of(&console, "[hello] hello from onboot");
    let first_service = line_of(&console, "service db: starting");
    assert!(
        onboot < first_service,
        "onboot ran before any service\n{all}"
    );
    let ready = line_of(&console, "service db: ready (tcp 127.0.0.1:7000)");
    let app = line_of(&console, "service app: starting");
    assert!(ready < app, "app started only after db was ready\n{all}");
    line_of(&console, "[app] app started after db");
    let crash = line_of(&console, "[flaky] flaky crashing");
    let restart = line_of(&console, "service flaky: restarting in 200 ms");
    let again = line_of(&console, "[flaky] flaky second life");
    assert!(
        crash < restart && restart < again,
        "flaky was restarted\n{all}"
    );
    line_of(&console, "[shutdown] powering off");
    assert!(stderr.contains("powered off cleanly"), "{all}");
}

#[test]
fn a_failing_onboot_container_fails_the_run_and_is_named() {
    let Some((p, _reg)) = setup() else { return };
    p.container("broken", "onboot", "", "echo about to fail; exit 3", "");
    p.container("shutdown", "service", "", "/bin/busybox poweroff -f", "");
    std::fs::write(
        p.components().join("shutdown.toml"),
        std::fs::read_to_string(p.components().join("shutdown.toml"))
            .unwrap()
            .replace(
                "[container]\n",
                "[container]\npid = \"host\"\ncapabilities = [\"CAP_SYS_BOOT\"]\n",
            ),
    )
    .unwrap();
    let asm = p.assembly("fails", &["broken", "shutdown"]);
    let (code, console, stderr) = p.boot(&asm);
    let all = format!("{console}\n--- stderr\n{stderr}");
    assert_eq!(code, 1, "run qemu exit code\n{all}");
    assert!(
        stderr.contains("failed: onboot broken: exited with exit status 3"),
        "{all}"
    );
    line_of(&console, "FAILED onboot broken: exited with exit status 3");
}
