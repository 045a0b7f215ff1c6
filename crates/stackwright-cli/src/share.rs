//! `stackwright push` and `stackwright pull`: assemblies shared through OCI registries,
//! and the registry options used to read published (`oci://`) parents.

use std::path::PathBuf;

use stackwright::share::{self, ShareOptions};
use stackwright::{Assembler, Error};

use crate::commands::{resolve_assembly_path, AssembleArgs};
use crate::progress::{Reporter, Work};
use crate::stdout::outln;
use crate::ui;
use crate::{MessageFormat, Outcome};

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The assembly file, or a built-in example's name (k8s-worker, or builtin:k8s-worker).
    pub assembly: PathBuf,
    /// Where to publish: HOST[:PORT]/REPOSITORY:TAG (an `oci://` prefix is accepted).
    pub reference: String,
    /// Publish the lock, linuxkit.yml and plan.json already written in this output
    /// directory. Without it the assembly is assembled in memory, keeping the choices of
    /// out/<name>/stackwright.lock when there is one.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// What to fetch: HOST[:PORT]/REPOSITORY:TAG or …@sha256:… (`oci://` accepted).
    pub reference: String,
    /// Where to write the published files (replaced as a whole, atomically).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The registry options `--pull` also takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Blob cache directory (default ~/.cache/stackwright).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// A registry to reach over plain HTTP (HOST:PORT, repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
}

impl RegistryArgs {
    fn options(&self) -> Result<ShareOptions, Error> {
        Ok(ShareOptions {
            insecure: self.insecure_registries.clone(),
            cache: self.cache.clone(),
            created: stackwright::source_date_epoch()?,
            ..ShareOptions::default()
        })
    }
}

pub(crate) fn push(
    assembler: &Assembler,
    args: &PushArgs,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    let opts = args.registry.options()?;
    let path = resolve_assembly_path(&args.assembly);
    let progress = Reporter::new(Work::Share);
    let (pushed, name, warnings) = match &args.from {
        Some(dir) => {
            let lock = stackwright::read_lock(dir)?;
            let loaded = share::load_blocking(&path, &opts, lock.as_ref())?;
            let pushed = share::push_dir_blocking(&loaded, dir, &args.reference, &opts, &progress)?;
            (pushed, loaded.name, Vec::new())
        }
        None => {
            let (assembled, _) = assembler
                .clone()
                .share_options(opts.clone())
                .assemble_locked_blocking(&path, None, false)?;
            let pushed =
                share::push_assembled_blocking(&assembled, &args.reference, &opts, &progress)?;
            (
                pushed,
                assembled.loaded.name.clone(),
                assembled.warnings().to_vec(),
            )
        }
    };
    drop(progress);
    if fmt == MessageFormat::Human {
        ui::status(format_args!(
            "pushed assembly `{name}` to {} ({} blobs uploaded, {} already there)",
            pushed.pinned, pushed.blobs_uploaded, pushed.blobs_present
        ));
        outln!("{}", pushed.digest);
    } else {
        outln!(
            "{}",
            serde_json::json!({"reason": "pushed", "assembly": name, "reference": pushed.reference,
                "digest": pushed.digest, "pinned": pushed.pinned, "size": pushed.size})
        );
    }
    Ok(Outcome {
        code: 0,
        diagnostics: warnings,
    })
}

pub(crate) fn pull(args: &PullArgs, fmt: MessageFormat) -> Result<Outcome, Error> {
    let opts = args.registry.options()?;
    let progress = Reporter::new(Work::Share);
    let pulled = share::pull_blocking(&args.reference, &args.out, &opts, &progress)?;
    drop(progress);
    if fmt == MessageFormat::Human {
        ui::status(format_args!(
            "pulled {}{} into {}: {}",
            pulled.pinned,
            pulled
                .name
                .as_ref()
                .map(|n| format!(" (assembly `{n}`)"))
                .unwrap_or_default(),
            pulled.dir.display(),
            pulled.files.join(", ")
        ));
        outln!("{}", pulled.digest);
    } else {
        outln!(
            "{}",
            serde_json::json!({"reason": "pulled", "reference": args.reference, "digest": pulled.digest,
                "pinned": pulled.pinned, "out": pulled.dir.display().to_string(), "files": pulled.files})
        );
    }
    Ok(Outcome::ok())
}

/// The registry options of `assemble` (for its published parents).
pub(crate) fn assemble_options(args: &AssembleArgs) -> Result<ShareOptions, Error> {
    RegistryArgs {
        cache: args.cache.clone(),
        insecure_registries: args.insecure_registries.clone(),
    }
    .options()
}
