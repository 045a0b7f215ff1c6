//! A bootable test platform (for the boot test and `cargo xtask bench`): images made here
//! and pushed to a [`LocalRegistry`] — Debian's cloud kernel (`target/boot-kernel/`, which
//! `cargo xtask test` fetches, or `STACKWRIGHT_TEST_KERNEL`), Debian's runc with the
//! libraries `ldd` lists, a static busybox — and component manifests for them in a
//! temporary directory, with the built-in `stackwright-init` as the init.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{image, layer_with_modes, TestLayer};
use crate::LocalRegistry;

/// The kernel the boot test boots: `STACKWRIGHT_TEST_KERNEL`, else
/// `<workspace>/target/boot-kernel/x/boot/vmlinuz-*`.
pub fn test_kernel() -> Option<PathBuf> {
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

/// A program on `PATH`.
pub fn which(p: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(p))
        .find(|p| p.is_file())
}

/// A program and the shared libraries `ldd` lists, at the paths it lists them.
pub fn with_libraries(program: &Path, at: &str) -> Vec<(String, u32, Vec<u8>)> {
    let mut files = vec![(
        at.to_string(),
        0o755,
        std::fs::read(program).expect("the program is readable"),
    )];
    let out = Command::new("ldd").arg(program).output().expect("ldd runs");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            let bytes = std::fs::read(p).expect("a library ldd lists is readable");
            files.push((p.trim_start_matches('/').to_string(), 0o755, bytes));
        }
    }
    files
}

fn moded(files: &[(String, u32, Vec<u8>)]) -> TestLayer {
    let v: Vec<(&str, u32, &[u8])> = files
        .iter()
        .map(|(p, m, b)| (p.as_str(), *m, b.as_slice()))
        .collect();
    layer_with_modes(&v)
}

/// The virtio modules (Debian's cloud kernel builds its virtio drivers as modules), in
/// the order they load: what `stackwright.modules=` lists for a data disk (`virtio_blk`)
/// and a NIC (`virtio_net`).
pub const VIRTIO_MODULES: [&str; 9] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_blk",
    "failover",
    "net_failover",
    "virtio_net",
];

/// LinuxKit's `kernel.tar` for the test kernel: its [`VIRTIO_MODULES`] at
/// `lib/modules/<release>/…`, from the unpacked package beside `vmlinuz` (empty when
/// there are none, e.g. a `STACKWRIGHT_TEST_KERNEL` elsewhere).
fn kernel_tar(vmlinuz: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default();
    let root = vmlinuz
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("lib/modules").join(release));
    if let Some(root) = root.filter(|r| !release.is_empty() && r.is_dir()) {
        let mut stack = vec![root.clone()];
        let mut found = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| VIRTIO_MODULES.contains(&n))
                    && p.extension().is_some_and(|x| x == "ko")
                {
                    found.push(p);
                }
            }
        }
        found.sort();
        for p in found {
            let rel = p.strip_prefix(&root).expect("under root");
            let data = std::fs::read(&p).expect("a module is readable");
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(
                &mut h,
                Path::new("lib/modules").join(release).join(rel),
                data.as_slice(),
            )
            .expect("in-memory tar");
        }
    }
    b.into_inner().expect("in-memory tar")
}

/// What is missing to boot here, with the command that installs it; `None`: all there.
pub fn missing() -> Option<String> {
    if test_kernel().is_none() {
        return Some(
            "no kernel: `cargo xtask test` fetches Debian's cloud kernel into target/boot-kernel"
                .into(),
        );
    }
    let tools = ["qemu-system-x86_64", "busybox", "runc"];
    if tools.iter().any(|t| which(t).is_none()) {
        return Some(
            "qemu-system-x86_64, busybox and runc are needed: apt-get install -y qemu-system-x86 busybox-static runc"
                .into(),
        );
    }
    None
}

/// The test platforms' kernel command line: the console on the first serial port, and no
/// boot-time self-tests of the kernel's crypto algorithms (`cryptomgr.notests`: under TCG
/// they take about 1.5 s of the kernel's own boot, measured with `-icount`).
pub const CMDLINE: &str = "console=ttyS0 cryptomgr.notests";

/// How long `db` of [`BootPlatform::full`] waits before it listens (seconds), so that
/// its readiness check has something to wait for.
pub const DB_DELAY: &str = "0.5";

/// The waits [`BootPlatform::full`] makes on purpose, in milliseconds: db's delay and
/// flaky's restart backoff (`cargo xtask bench` reports them beside its time).
pub const DELIBERATE_WAITS_MS: u64 = 500 + 200;

/// A platform under construction: components in a temporary directory, images in `reg`.
pub struct BootPlatform {
    pub dir: tempfile::TempDir,
    pub host: String,
}

impl BootPlatform {
    /// Pushes the kernel, runc and busybox images and writes the `boot-kernel` and
    /// `test-runc` components. Panics when something is [`missing`].
    pub fn new(reg: &LocalRegistry) -> BootPlatform {
        if let Some(m) = missing() {
            panic!("{m}");
        }
        let vmlinuz = test_kernel().expect("checked");
        let rt = runtime();
        let kernel_img = image(
            "amd64",
            // LinuxKit's kernel image layout: `kernel`, and `kernel.tar` of modules (none:
            // everything the boot needs is built in).
            vec![moded(&[
                (
                    "kernel".into(),
                    0o644,
                    std::fs::read(&vmlinuz).expect("kernel"),
                ),
                ("kernel.tar".into(), 0o644, kernel_tar(&vmlinuz)),
            ])],
        );
        let runc = which("runc").expect("checked");
        let runc_img = image("amd64", vec![moded(&with_libraries(&runc, "usr/bin/runc"))]);
        let busybox = which("busybox").expect("checked");
        let busybox_img = image(
            "amd64",
            vec![moded(&[(
                "bin/busybox".into(),
                0o755,
                std::fs::read(&busybox).expect("busybox"),
            )])],
        );
        rt.block_on(async {
            reg.push_image("test/kernel", "6.1", &kernel_img).await?;
            reg.push_image("test/runc", "1", &runc_img).await?;
            reg.push_image("test/busybox", "1", &busybox_img).await
        })
        .expect("pushing the boot images");
        let p = BootPlatform {
            dir: tempfile::tempdir().expect("a temporary directory"),
            host: reg.host(),
        };
        std::fs::create_dir(p.components()).expect("components dir");
        // kernel_config: from the package's boot/config-6.1.0-*-cloud-amd64. CONFIG_RD_LZ4
        // is what the full platform's `initrd = "lz4"` needs (SW0508 without it).
        p.component(
            "boot-kernel",
            &format!(
                "id = \"boot-kernel\"\ncategory = \"kernel\"\nsummary = \"Debian's cloud kernel\"\nstage = \"kernel\"\narch = [\"amd64\"]\n\n[[release]]\nversion = \"6.1.0\"\nimage = \"{}/test/kernel:6.1\"\nprovides = {{ kernel = \"6.1.0\" }}\nkernel_config = [\"CONFIG_CGROUPS=y\", \"CONFIG_DEVTMPFS=y\", \"CONFIG_RD_GZIP=y\", \"CONFIG_RD_LZ4=y\"]\n",
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
        p
    }

    pub fn components(&self) -> PathBuf {
        self.dir.path().join("components")
    }

    pub fn component(&self, id: &str, body: &str) {
        std::fs::write(self.components().join(format!("{id}.toml")), body)
            .expect("writing a component");
    }

    /// A busybox container component: `container` lines go under `[container]` (e.g.
    /// `net = "host"`), `release` lines under its `[[release]]`.
    pub fn container(
        &self,
        id: &str,
        stage: &str,
        extra: &str,
        container: &str,
        script: &str,
        release: &str,
    ) {
        let script = script.replace('"', "\\\"");
        self.component(
            id,
            &format!(
                "id = \"{id}\"\ncategory = \"observability\"\nsummary = \"boot test {id}\"\nstage = \"{stage}\"\narch = [\"amd64\"]\n{extra}\n[container]\n{container}\ncommand = [\"/bin/busybox\", \"sh\", \"-c\", \"{script}\"]\n\n[[release]]\nversion = \"1.0.0\"\nimage = \"{}/test/busybox:1\"\n{release}\n",
                self.host
            ),
        );
    }

    /// An assembly of the kernel, stackwright-init, runc and `components`.
    pub fn assembly(&self, name: &str, components: &[&str]) -> PathBuf {
        let list: String = components
            .iter()
            .map(|c| format!("{c} = \"*\"\n"))
            .collect();
        let p = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[assembly]\nname = \"{name}\"\narch = \"amd64\"\ncomponent_paths = [\"components\"]\n\n[components]\nboot-kernel = \"*\"\nstackwright-init = \"*\"\ntest-runc = \"*\"\n{list}\n[prefer]\noci-runtime = \"test-runc\"\n\n[kernel]\ncmdline = \"{CMDLINE}\"\n"
            ),
        )
        .expect("writing the assembly");
        p
    }

    /// The arguments of `stackwright assemble` that build `assembly` into `out`.
    pub fn assemble_args(&self, assembly: &Path, out: &Path) -> Vec<String> {
        vec![
            "assemble".into(),
            assembly.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--cache".into(),
            self.dir.path().join("cache").display().to_string(),
            "--insecure-registry".into(),
            self.host.clone(),
            "--pull".into(),
            "--format".into(),
            "kernel+initrd".into(),
        ]
    }

    /// The platform of the boot test: one onboot container; `db`, ready on TCP 7000 (it
    /// waits [`DB_DELAY`] before it listens); `app`, which requires db; `flaky`, which
    /// crashes once and is restarted after a 200 ms backoff; `shutdown` (`pid = "host"`,
    /// `CAP_SYS_BOOT`), which requires both, waits until flaky's second life has begun
    /// and app has said its line (files in the shared `/run`, polled every 50 ms; no fixed
    /// sleep: on a loaded machine app's one line once came after the poweroff) and asks the init
    /// to power off (`busybox poweroff`: SIGUSR2 to PID 1); and two onshutdown containers,
    /// `goodbye` requiring `flush`, so that shutdown runs `goodbye` first (reverse
    /// dependency order). The long-running services exit on SIGTERM (a shell trap: a
    /// container's PID 1 ignores signals it has no handler for), so stopping them takes no
    /// grace period. The waits put there on purpose: [`DELIBERATE_WAITS_MS`]. Its initrd
    /// is LZ4 (`[kernel] initrd = "lz4"`).
    pub fn full(&self) -> PathBuf {
        self.container("hello", "onboot", "", "", "echo hello from onboot", "");
        self.container(
            "db",
            "service",
            "[service]\nready = { tcp = 7000 }\nready_timeout = 60\n",
            "net = \"host\"",
            &format!("/bin/busybox sleep {DB_DELAY}; echo db listening; trap 'exit 0' TERM; /bin/busybox httpd -f -p 7000 -h / & wait"),
            "",
        );
        self.container(
            "app",
            "service",
            "",
            "binds = [\"/run:/run\"]",
            "echo app started after db; /bin/busybox touch /run/app-said",
            "requires = { db = \"*\" }",
        );
        self.container(
            "flaky",
            "service",
            "[service]\nrestart = \"on-failure\"\nbackoff_ms = 200\n",
            "binds = [\"/run:/run\"]",
            "if [ -f /run/flaky ]; then echo flaky second life; /bin/busybox touch /run/flaky-again; trap 'exit 0' TERM; /bin/busybox sleep 600 & wait; exit 0; fi; /bin/busybox touch /run/flaky; echo flaky crashing; exit 3",
            "",
        );
        self.container(
            "shutdown",
            "service",
            "",
            "pid = \"host\"\ncapabilities = [\"CAP_SYS_BOOT\"]\nbinds = [\"/run:/run\"]",
            "until [ -f /run/flaky-again ] && [ -f /run/app-said ]; do /bin/busybox sleep 0.05; done; echo powering off; /bin/busybox poweroff",
            "requires = { app = \"*\", flaky = \"*\" }",
        );
        self.container("flush", "onshutdown", "", "", "echo flush runs last", "");
        self.container(
            "goodbye",
            "onshutdown",
            "",
            "",
            "echo goodbye runs first",
            "requires = { flush = \"*\" }",
        );
        let asm = self.assembly(
            "boots",
            &[
                "hello", "db", "app", "flaky", "shutdown", "flush", "goodbye",
            ],
        );
        // An LZ4 initrd (`[kernel]` is the file's last table): it unpacks about 1 s
        // faster than gzip under TCG. The other test platforms keep the default, gzip.
        let mut text = std::fs::read_to_string(&asm).expect("the assembly just written");
        text.push_str("initrd = \"lz4\"\n");
        std::fs::write(&asm, text).expect("writing the assembly");
        asm
    }

    /// A service that powers the guest off (`busybox poweroff -f`) after `before`.
    pub fn poweroff(&self, id: &str, before: &str, release: &str) {
        self.container(
            id,
            "service",
            "",
            "pid = \"host\"\ncapabilities = [\"CAP_SYS_BOOT\"]",
            &format!("{before}echo powering off; /bin/busybox poweroff -f"),
            release,
        );
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a tokio runtime")
}
