//! One function per subcommand. Each returns an [`Outcome`]; printing of results happens
//! here, printing of diagnostics in `lib.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackwright::solver::Why;
use stackwright::types::diagnostic::{self, Diagnostic};
use stackwright::types::manifest::Category;
use stackwright::{Assembled, Assembler, Error, Registry};

use crate::stdout::{out, outln};
use crate::ui;
use crate::{Cli, Command, ImportCommand, MessageFormat, Outcome};

#[derive(clap::Args, Debug)]
pub struct AssembleArgs {
    /// The assembly file, or a built-in example's name (k8s-worker, or builtin:k8s-worker).
    pub assembly: PathBuf,
    /// Output directory (default: out/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resolve every image tag to its digest against its registry.
    #[arg(long)]
    pub pin: bool,
    /// Fetch every image into <out>/images (an OCI image layout).
    #[arg(long)]
    pub pull: bool,
    /// Extra outputs, comma-separated: tar, kernel+initrd, sbom (<name>.spdx.json and <name>.cdx.json; no network needed),
    /// disk images raw-bios, raw-efi, qcow2-bios, qcow2-efi, iso-bios, iso-efi.
    #[arg(long, value_delimiter = ',')]
    pub format: Vec<String>,
    /// Size of raw and qcow2 disk images (e.g. 2G; default: the content plus a small margin).
    #[arg(long, value_name = "SIZE")]
    pub disk_size: Option<String>,
    /// Never touch the network: with --pull/--format, images (by the lock's digests) and release files come from the cache only, and whatever is missing is named.
    #[arg(long)]
    pub offline: bool,
    /// Ignore the lockfile's choices and resolve afresh.
    #[arg(long)]
    pub update: bool,
    /// Blob cache directory (default ~/.cache/stackwright).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// A registry to reach over plain HTTP (HOST:PORT, repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Push the images Stackwright builds (packaged components, stackwright-init) to REGISTRY/PREFIX/<id>:<version> and name them there, pinned by digest, in linuxkit.yml and the lock (so `linuxkit build` can pull them).
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    pub push_packages: Option<String>,
}

pub(crate) fn dispatch(cli: Cli) -> Outcome {
    let assembler = cli
        .component_dirs
        .iter()
        .fold(Assembler::new(), |a, d| a.component_dir(d.clone()));
    let fmt = cli.message_format;
    let result = match cli.command {
        Command::Assemble(args) => assemble(&assembler, &args, fmt),
        Command::Check { assemblies } => check(&assembler, &assemblies, fmt),
        Command::Explain { assembly } => explain(&assembler, &assembly, fmt),
        Command::Why {
            assembly,
            component,
        } => why(&assembler, &assembly, &component, fmt),
        Command::Components { category } => components(&assembler, category.as_deref(), fmt),
        Command::Show { name } => show(&assembler, &name, fmt),
        Command::Import(ImportCommand::Linuxkit { files, out }) => {
            import_linuxkit(&assembler, &files, &out)
        }
        Command::Push(args) => crate::share::push(&assembler, &args, fmt),
        Command::Pull(args) => crate::share::pull(&args, fmt),
        Command::Diff(args) => crate::ops::diff(&args),
        Command::Upgrade(args) => crate::ops::upgrade(&assembler, &args),
        Command::Run(cmd) => crate::run::run(&assembler, &cmd, fmt),
        Command::Completions { shell } => Ok(completions(shell)),
    };
    match result {
        Ok(o) => o,
        Err(e) => Outcome {
            code: e.exit_code(),
            diagnostics: e.diagnostics(),
        },
    }
}

/// The completion script for `shell`, on stdout.
fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "stackwright", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Outcome::ok()
}

/// A path as given; for a bare name that is no file: `assemblies/<name>.toml` when it
/// exists (in this repository, so edits there count), else the built-in assembly of that
/// name (`builtin:<name>`, from any directory). `builtin:NAME` itself is passed through.
pub fn resolve_assembly_path(p: &Path) -> PathBuf {
    if p.exists() {
        return p.to_path_buf();
    }
    let s = p.to_string_lossy();
    if !s.contains('/') && !s.ends_with(".toml") && !s.contains(':') {
        let candidate = Path::new("assemblies").join(format!("{s}.toml"));
        if candidate.exists() {
            return candidate;
        }
        if stackwright::assembly::builtin(&s).is_some() {
            return PathBuf::from(format!("{}{s}", stackwright::assembly::BUILTIN_SCHEME));
        }
    }
    p.to_path_buf()
}

fn assemble(
    assembler: &Assembler,
    args: &AssembleArgs,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    // Pinning asks registries what tags name now; --pull and --format work offline
    // from the cache (images by the lock's digests, release files by their sha256).
    if args.offline && args.pin {
        return Err(Error::Usage(vec![Diagnostic::error(
            diagnostic::INVALID_VALUE,
            "--offline cannot be combined with --pin (pinning asks the registries)",
        )
        .hint(
            "drop --pin: --offline --pull/--format use the lock's digests and the cache",
        )]));
    }
    let formats = stackwright::output::parse_formats(&args.format)?;
    let disk_size = args
        .disk_size
        .as_deref()
        .map(stackwright_qemu::parse_size)
        .transpose()
        .map_err(|e| {
            Error::Usage(vec![Diagnostic::error(diagnostic::INVALID_VALUE, e)
                .hint("--disk-size SIZE, e.g. --disk-size 2G")])
        })?;
    stackwright::output::check_disk_size(&formats, disk_size)?;
    // The lock of the output directory keeps its choices (versions, digests, published
    // parents) while the assembly allows them.
    let (mut assembled, out_dir) = assembler
        .clone()
        .share_options(crate::share::assemble_options(args)?)
        .assemble_locked_blocking(
            &resolve_assembly_path(&args.assembly),
            args.out.as_deref(),
            args.update,
        )?;
    if assembled.loaded.assembly.is_base() {
        // A base is checked like any assembly, and nothing is written.
        if fmt == MessageFormat::Json {
            outln!(
                "{}",
                serde_json::json!({"reason": "checked-base", "assembly": assembled.loaded.name})
            );
        } else if !ui::quiet() {
            out!("{}", assembled.summary());
            outln!(
                "\n{} is a base (`base = true`): checked, not rendered; assemble an assembly that extends it",
                assembled.loaded.name
            );
        }
        return Ok(Outcome {
            code: 0,
            diagnostics: assembled.warnings().to_vec(),
        });
    }
    let extra = stackwright::output::WriteOptions {
        pin: args.pin,
        pull: args.pull,
        formats,
        disk_size,
        cache: args.cache.clone(),
        insecure: args.insecure_registries.clone(),
        update: args.update,
        offline: args.offline,
        push_packages: args.push_packages.clone(),
    };
    let progress =
        crate::progress::Reporter::new(crate::progress::Work::Assemble).building(&extra.formats);
    let written = stackwright::output::write_blocking(&mut assembled, &out_dir, &extra, &progress)?;
    drop(progress);
    if fmt == MessageFormat::Human {
        if ui::quiet() {
            return Ok(Outcome {
                code: 0,
                diagnostics: assembled.warnings().to_vec(),
            });
        }
        out!("{}", assembled.summary());
        outln!(
            "\nwrote {} ({})",
            written.display(),
            stackwright::output::listing(&written)
        );
    } else {
        outln!(
            "{}",
            serde_json::json!({"reason": "assembled", "assembly": assembled.loaded.name, "out": written.display().to_string()})
        );
    }
    Ok(Outcome {
        code: 0,
        diagnostics: assembled.warnings().to_vec(),
    })
}

fn check(assembler: &Assembler, paths: &[PathBuf], fmt: MessageFormat) -> Result<Outcome, Error> {
    let mut out = Outcome::ok();
    for p in paths {
        let path = resolve_assembly_path(p);
        match assembler
            .assemble_file_blocking(&path)
            .and_then(|a| a.outputs().map(|_| a))
        {
            Ok(a) => {
                if fmt == MessageFormat::Human && !ui::quiet() {
                    outln!(
                        "{}: ok ({} components)",
                        path.display(),
                        a.resolution.components.len()
                    );
                }
                out.diagnostics.extend(a.warnings().iter().cloned());
            }
            Err(e) => {
                if fmt == MessageFormat::Human {
                    outln!("{}: failed", path.display());
                }
                out.code = out.code.max(e.exit_code());
                out.diagnostics.extend(e.diagnostics());
            }
        }
    }
    Ok(out)
}

/// Children of each component: what it brought in.
fn children(a: &Assembled) -> BTreeMap<String, Vec<(String, String)>> {
    let mut kids: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (id, c) in &a.resolution.components {
        for w in &c.why {
            if let Why::Required { by, via, .. } | Why::Recommended { by, via, .. } = w {
                let label = if via == id {
                    String::new()
                } else {
                    format!(" (via {via})")
                };
                kids.entry(by.clone())
                    .or_default()
                    .push((id.clone(), label));
            }
        }
    }
    kids
}

fn explain(assembler: &Assembler, p: &Path, fmt: MessageFormat) -> Result<Outcome, Error> {
    let a = assembler.assemble_file_blocking(&resolve_assembly_path(p))?;
    let kids = children(&a);
    let roots: Vec<&String> = a
        .resolution
        .components
        .iter()
        .filter(|(_, c)| {
            c.why.iter().any(|w| {
                matches!(
                    w,
                    Why::Asked { .. } | Why::AskedCapability { .. } | Why::Bootable { .. }
                )
            })
        })
        .map(|(id, _)| id)
        .collect();
    let mut text = format!("{} ({})\n", a.loaded.name, a.loaded.arch);
    let mut seen = std::collections::BTreeSet::new();
    #[allow(clippy::too_many_arguments)] // one recursive step of the tree; a struct would only rename them
    fn walk(
        a: &Assembled,
        kids: &BTreeMap<String, Vec<(String, String)>>,
        id: &str,
        label: &str,
        prefix: &str,
        last: bool,
        seen: &mut std::collections::BTreeSet<String>,
        text: &mut String,
    ) {
        let v = a
            .resolution
            .components
            .get(id)
            .map(|c| c.version.to_string())
            .unwrap_or_default();
        let branch = if last { "└── " } else { "├── " };
        let again = !seen.insert(id.to_string());
        text.push_str(&format!(
            "{prefix}{branch}{id} {v}{label}{}\n",
            if again { " (see above)" } else { "" }
        ));
        if again {
            return;
        }
        let list = kids.get(id).cloned().unwrap_or_default();
        let next = format!("{prefix}{}", if last { "    " } else { "│   " });
        for (i, (k, l)) in list.iter().enumerate() {
            walk(a, kids, k, l, &next, i + 1 == list.len(), seen, text);
        }
    }
    for (i, r) in roots.iter().enumerate() {
        walk(
            &a,
            &kids,
            r,
            " (asked for)",
            "",
            i + 1 == roots.len(),
            &mut seen,
            &mut text,
        );
    }
    for (id, v) in &a.resolution.external {
        text.push_str(&format!("{id} {v} (external, not installed)\n"));
    }
    if fmt == MessageFormat::Human {
        out!("{text}");
    } else {
        outln!("{}", stackwright::render::plan_json(&a.platform()));
    }
    Ok(Outcome {
        code: 0,
        diagnostics: a.warnings().to_vec(),
    })
}

fn why(
    assembler: &Assembler,
    p: &Path,
    component: &str,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    let a = assembler.assemble_file_blocking(&resolve_assembly_path(p))?;
    let Some(mut c) = a.resolution.components.get(component) else {
        let mut d = Diagnostic::error(
            diagnostic::UNKNOWN_COMPONENT,
            format!("`{component}` is not part of assembly `{}`", a.loaded.name),
        );
        if let Some(s) = stackwright::types::suggest::did_you_mean(
            component,
            a.resolution.components.keys().map(String::as_str),
        ) {
            d = d.hint(format!("did you mean `{s}`?"));
        } else {
            d = d.hint("`stackwright explain` lists everything that is in");
        }
        return Ok(Outcome {
            code: 1,
            diagnostics: vec![d],
        });
    };
    let mut lines = Vec::new();
    let mut id = component.to_string();
    let mut guard = 0;
    loop {
        let w = &c.why[0];
        lines.push(format!("{id} {}: {}", c.version, w.describe()));
        match w {
            Why::Required { by, .. } | Why::Recommended { by, .. } if guard < 64 => {
                id = by.clone();
                guard += 1;
                match a.resolution.components.get(by) {
                    Some(next) => c = next,
                    None => break,
                }
            }
            _ => break,
        }
    }
    if fmt == MessageFormat::Human {
        for (i, l) in lines.iter().enumerate() {
            outln!("{}{l}", "  ".repeat(i));
        }
    } else {
        outln!(
            "{}",
            serde_json::json!({"component": component, "chain": lines})
        );
    }
    Ok(Outcome::ok())
}

fn components(
    assembler: &Assembler,
    category: Option<&str>,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    let r = assembler.registry(None)?;
    let cat = match category {
        Some(c) => Some(c.parse::<Category>().map_err(|e| {
            Error::Usage(vec![Diagnostic::error(
                diagnostic::INVALID_VALUE,
                format!("--category: {e}"),
            )])
        })?),
        None => None,
    };
    let rows: Vec<Vec<String>> = r
        .manifests()
        .filter(|m| cat.is_none_or(|c| m.category == c))
        .map(|m| {
            let n = m.newest();
            let provides: Vec<&str> = n.provides.keys().map(String::as_str).collect();
            vec![
                m.id.clone(),
                m.category.to_string(),
                n.version.to_string(),
                provides.join(", "),
            ]
        })
        .collect();
    if fmt == MessageFormat::Json {
        for r in &rows {
            outln!(
                "{}",
                serde_json::json!({"id": r[0], "category": r[1], "version": r[2], "provides": r[3]})
            );
        }
        return Ok(Outcome::ok());
    }
    out!(
        "{}",
        stackwright::render::text_table(&["id", "category", "newest", "provides"], &rows)
    );
    let cats: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    outln!("\n{} components in {} categories", rows.len(), cats.len());
    Ok(Outcome::ok())
}

fn show(assembler: &Assembler, id: &str, fmt: MessageFormat) -> Result<Outcome, Error> {
    let r: Registry = assembler.registry(None)?;
    if let Some(cap) = r.capability(id) {
        return show_capability(cap, &r, fmt);
    }
    let Some(m) = r.manifest(id) else {
        let mut d = Diagnostic::error(
            diagnostic::UNKNOWN_COMPONENT,
            format!("unknown component or capability `{id}`"),
        );
        d = match r.suggest(id) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint("`stackwright components` lists them all"),
        };
        return Ok(Outcome {
            code: 1,
            diagnostics: vec![d],
        });
    };
    if fmt == MessageFormat::Json {
        outln!("{}", serde_json::json!({"id": m.id, "toml": m.to_toml()}));
        return Ok(Outcome::ok());
    }
    out!("{}", stackwright::render::describe_component(m, &r));
    Ok(Outcome::ok())
}

fn show_capability(
    cap: &stackwright::types::capability::Capability,
    r: &Registry,
    fmt: MessageFormat,
) -> Result<Outcome, Error> {
    if fmt == MessageFormat::Json {
        let providers: Vec<serde_json::Value> = stackwright::render::capability_providers(cap, r)
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "category": p.category.to_string(),
                    "releases": p.releases.iter().map(|(v, provided)| serde_json::json!({
                        "version": v.to_string(), "provides": provided.to_string()
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({"capability": cap.name, "summary": cap.summary,
                "cardinality": format!("{:?}", cap.cardinality).to_lowercase(),
                "default": cap.default, "providers": providers})
        );
        return Ok(Outcome::ok());
    }
    out!("{}", stackwright::render::describe_capability(cap, r));
    Ok(Outcome::ok())
}

fn import_linuxkit(assembler: &Assembler, files: &[PathBuf], out: &Path) -> Result<Outcome, Error> {
    let r = assembler.registry(None)?;
    let (written, warnings) = stackwright::import_linuxkit(&r, files, out)?;
    if !ui::quiet() {
        outln!("wrote {} file(s) to {}", written, out.display());
    }
    Ok(Outcome {
        code: 0,
        diagnostics: warnings,
    })
}
