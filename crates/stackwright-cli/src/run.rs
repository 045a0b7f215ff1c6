//! `stackwright run qemu <output-dir | disk image | assembly.toml>`: boot a platform and
//! report how it went (exit 0 clean poweroff, 1 failures the init reported, 124 timeout, 3 qemu missing
//! or not starting).

use std::path::{Path, PathBuf};
use std::time::Duration;

use stackwright::types::diagnostic::{self, Diagnostic};
use stackwright::{Assembler, Error};
use stackwright_qemu::{Firmware, Kvm, Options, QemuError, Verdict};

use crate::{MessageFormat, Outcome};

#[derive(clap::Subcommand, Debug)]
pub enum RunCommand {
    /// Boot under qemu-system-x86_64: what `assemble --format kernel+initrd` wrote, a disk
    /// image (`--format raw-bios`, raw-efi, qcow2-bios, qcow2-efi, iso-bios, iso-efi), or an
    /// assembly file (assembled first, with --pull --format kernel+initrd).
    #[command(after_help = "Examples:
  stackwright run qemu out/my-platform                          # kernel+initrd written by assemble
  stackwright run qemu my-platform.toml --timeout 600           # assembled first (--pull --format kernel+initrd)
  stackwright run qemu out/my-platform/my-platform-efi.img --mem 2G --cpus 2 --publish 8080:80
  stackwright run qemu out/my-platform/my-platform.iso --firmware bios --kvm off")]
    Qemu(QemuArgs),
}

#[derive(clap::Args, Debug)]
pub struct QemuArgs {
    /// An output directory (with <name>-kernel, <name>-initrd.img, <name>-cmdline), a disk
    /// image file (<name>-bios.img, <name>-efi.img, <name>.qcow2, <name>-efi.qcow2,
    /// <name>.iso, <name>-efi.iso), or an assembly file (.toml).
    pub target: PathBuf,
    /// Firmware for a disk image: bios (qemu's SeaBIOS) or efi (OVMF). Default: what the
    /// image's bytes say (an EFI system partition or an EFI El Torito entry: efi; also
    /// inside a qcow2), never its name.
    #[arg(long, value_name = "bios|efi")]
    pub firmware: Option<String>,
    /// Guest memory (qemu's -m: 1024, 2G).
    #[arg(long, default_value = "1024")]
    pub mem: String,
    /// Guest CPUs (qemu's -smp).
    #[arg(long, default_value_t = 1)]
    pub cpus: u32,
    /// Stop the guest after SECS seconds (exit 124).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// auto: KVM only if it actually works here; on: KVM or fail; off: TCG.
    #[arg(long, default_value = "auto")]
    pub kvm: String,
    /// Forward a host TCP port to a guest port ([ADDR:]HOST:GUEST, repeatable; ADDR
    /// default: every host address). Gives the guest a virtio NIC on qemu's user network;
    /// a kernel+initrd guest gets stackwright.ip=10.0.2.15/24,gw=10.0.2.2,dns=10.0.2.3 on
    /// its command line (unless it has its own), which stackwright-init sets up.
    #[arg(long, value_name = "[ADDR:]HOST:GUEST")]
    pub publish: Vec<String>,
    /// A persistent data disk of this size (e.g. 1G), kept beside the platform.
    #[arg(long, value_name = "SIZE")]
    pub disk: Option<String>,
    /// Output directory when TARGET is an assembly (default out/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A registry to reach over plain HTTP when assembling (HOST:PORT, repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Blob cache directory when assembling (default ~/.cache/stackwright).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

fn usage(m: String, hint: &str) -> Error {
    Error::Usage(vec![
        Diagnostic::error(diagnostic::INVALID_VALUE, m).hint(hint.to_string())
    ])
}

pub(crate) fn run(
    assembler: &Assembler,
    cmd: &RunCommand,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    let RunCommand::Qemu(args) = cmd;
    let kvm: Kvm = args
        .kvm
        .parse()
        .map_err(|e: String| usage(e, "--kvm auto|on|off"))?;
    let publish = args
        .publish
        .iter()
        .map(|p| stackwright_qemu::parse_publish(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| usage(
                e,
                "--publish [ADDR:]HOST:GUEST, e.g. --publish 8080:80 or --publish 127.0.0.1:8080:80",
            ))?;
    if let Some(d) = &args.disk {
        stackwright_qemu::parse_size(d).map_err(|e| usage(e, "--disk SIZE, e.g. --disk 1G"))?;
    }
    let firmware = match args.firmware.as_deref() {
        None => None,
        Some("bios") => Some(Firmware::Bios),
        Some("efi") => Some(Firmware::Efi),
        Some(other) => {
            return Err(usage(
                format!("--firmware {other}: use bios or efi"),
                "--firmware bios|efi",
            ))
        }
    };
    let is_assembly = !args.target.is_dir()
        && (!args.target.is_file() || args.target.extension().is_some_and(|e| e == "toml"));
    let target = if is_assembly {
        assemble_first(assembler, args, &args.target)?
    } else {
        args.target.clone()
    };
    let guest = stackwright_qemu::find(&target).map_err(qemu_error)?;
    let opts = Options {
        mem: args.mem.clone(),
        cpus: args.cpus,
        timeout: args.timeout.map(Duration::from_secs),
        kvm,
        publish,
        disk: args.disk.clone(),
        qemu: None,
        firmware,
    };
    let sink: Box<dyn std::io::Write + Send> = if fmt == MessageFormat::Human {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::sink())
    };
    let human = fmt == MessageFormat::Human;
    let report = stackwright_qemu::run_with(&guest, &opts, sink, &mut |n| match n {
        // Said once, before the TCG run's console: it is why the console starts late.
        stackwright_qemu::Notice::KvmFallback { reason } if human => crate::ui::eline(format_args!(
            "stackwright run: qemu failed under KVM before the guest started ({reason}); starting it again under TCG"
        )),
        _ => {}
    })
    .map_err(qemu_error)?;
    let code = report.exit_code();
    let failures = match &report.verdict {
        Verdict::Failed(f) => f.clone(),
        _ => Vec::new(),
    };
    let summary = match &report.verdict {
        Verdict::Clean => {
            "powered off cleanly; every onboot container succeeded, no service failed".to_string()
        }
        Verdict::Failed(f) => format!("{} failure(s)", f.len()),
        Verdict::TimedOut => format!(
            "timed out after {} s; the guest was stopped",
            args.timeout.unwrap_or_default()
        ),
    };
    if fmt == MessageFormat::Human {
        // The verdict: under -q only when the run did not end cleanly.
        if code != 0 || !crate::ui::quiet() {
            crate::ui::eline(format_args!(
                "\nstackwright run: {summary} ({:.1} s, {})",
                report.elapsed.as_secs_f64(),
                if report.kvm { "KVM" } else { "TCG" }
            ));
        }
        for f in &failures {
            crate::ui::eline(format_args!("  failed: {f}"));
        }
        if let Some(why) = report
            .kvm_unused
            .as_deref()
            .filter(|_| crate::ui::verbose())
        {
            crate::ui::eline(format_args!("  KVM not used: {why}"));
        }
    } else {
        crate::stdout::outln!(
            "{}",
            serde_json::json!({
                "reason": "run",
                "exit": code,
                "failures": failures,
                "seconds": report.elapsed.as_secs_f64(),
                "kvm": report.kvm,
                "kvm_unused": report.kvm_unused,
            })
        );
    }
    Ok(Outcome {
        code,
        diagnostics: Vec::new(),
    })
}

fn qemu_error(e: QemuError) -> Error {
    match e {
        QemuError::Missing { program } => Error::Io {
            context: format!(
                "{program} is not installed (install it: {})",
                if program.starts_with("OVMF") {
                    stackwright_qemu::OVMF_HINT
                } else {
                    stackwright_qemu::INSTALL_HINT
                }
            ),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        },
        QemuError::Io { what, source } => Error::Io {
            context: what,
            source,
        },
        QemuError::NoKvm { reason } => Error::Io {
            context: format!("--kvm on: KVM does not work here ({reason}; use --kvm auto or off)"),
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        },
        e @ QemuError::NotBootable { .. } => Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            e.to_string(),
        )
        .hint("build one: stackwright assemble ASSEMBLY --pull --format kernel+initrd")]),
        e @ QemuError::NotAnImage { .. } => Error::Invalid(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            e.to_string(),
        )
        .hint("build one: stackwright assemble ASSEMBLY --pull --format raw-bios")]),
        QemuError::Usage(m) => usage(m, "see stackwright run qemu --help"),
    }
}

fn assemble_first(assembler: &Assembler, args: &QemuArgs, path: &Path) -> Result<PathBuf, Error> {
    let path = crate::commands::resolve_assembly_path(path);
    let loaded = assembler.load_blocking(&path)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&loaded.name));
    let lock = stackwright::read_lock(&out)?;
    let mut assembled = assembler.clone().with_lock(lock).assemble_loaded(loaded)?;
    let extras = stackwright::output::WriteOptions {
        pull: true,
        formats: vec![stackwright::output::Format::KernelInitrd],
        cache: args.cache.clone(),
        insecure: args.insecure_registries.clone(),
        ..Default::default()
    };
    let written = stackwright::output::write_blocking(
        &mut assembled,
        &out,
        &extras,
        &crate::progress::Reporter::new(crate::progress::Work::Assemble).building(&extras.formats),
    )?;
    Ok(written)
}
