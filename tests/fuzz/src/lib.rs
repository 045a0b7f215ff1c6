//! Fuzz targets for every reader of untrusted input in Stackwright.
//!
//! Each target is a plain `fn(&[u8])` so it runs under libFuzzer (`cargo fuzz run`, the
//! `fuzz_targets/` binaries, feature `libfuzzer`) and under the coverage-less stable
//! runner (`src/bin/stable.rs`) alike. A target fails by panicking: on a panic in the code
//! under test, and on a broken invariant checked here (a parsed value that does not
//! survive its own round trip, a diagnostic that does not render). Returning an error is
//! the expected outcome for most inputs.
//!
//! | target          | reads                                                          |
//! |-----------------|----------------------------------------------------------------|
//! | `manifest`      | a component manifest (`Manifest::parse`)                       |
//! | `assembly_file` | one assembly file (`AssemblyFile::parse`, then `merge`)        |
//! | `assembler`     | the whole pipeline on a text assembly (`load_str` → outputs)   |
//! | `lockfile`      | a lockfile (`Lockfile::parse`)                                 |
//! | `linuxkit`      | LinuxKit YAML import (`stackwright_linuxkit::import`)          |
//! | `layer`         | an image layer blob, tar or gzip'd tar (`apply_layer`)         |

use std::sync::OnceLock;

use stackwright::types::assembly::AssemblyFile;
use stackwright::types::diagnostic::Diagnostic;
use stackwright::types::lock::Lockfile;
use stackwright::types::manifest::Manifest;
use stackwright::types::SourceText;

/// Every target, by name (the names of the `fuzz_targets/` binaries).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("manifest", manifest),
    ("assembly_file", assembly_file),
    ("assembler", assembler),
    ("lockfile", lockfile),
    ("linuxkit", linuxkit),
    ("layer", layer),
];

/// Looks a target up by name.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Text as the readers get it: the CLI refuses non-UTF-8 files before parsing (SW0108),
/// so the parsers only ever see valid UTF-8. Lossy conversion keeps every input useful.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Diagnostics must render in both formats, whatever their content.
fn render(diags: &[Diagnostic]) {
    for d in diags {
        let _ = d.render();
        let _ = d.to_json_line();
    }
}

pub fn manifest(data: &[u8]) {
    let src = SourceText::new("components/runtime/thing.toml", text(data));
    match Manifest::parse(&src, Some("thing")) {
        Ok(m) => {
            // What a manifest writes back must read back as the same manifest.
            let again = SourceText::new("again.toml", m.to_toml());
            let back = Manifest::parse(&again, Some("thing")).unwrap_or_else(|e| {
                panic!(
                    "to_toml does not read back: {}\n---\n{}",
                    stackwright::types::diagnostic::render_all(e.diagnostics()),
                    again.text
                )
            });
            assert_eq!(back.id, m.id);
            assert_eq!(
                back.releases.iter().map(|r| &r.version).collect::<Vec<_>>(),
                m.releases.iter().map(|r| &r.version).collect::<Vec<_>>()
            );
        }
        Err(e) => render(e.diagnostics()),
    }
}

pub fn assembly_file(data: &[u8]) {
    let src = SourceText::new("assembly.toml", text(data));
    match AssemblyFile::parse(&src) {
        Ok(a) => {
            let merged = a.clone().merge(a.clone());
            assert_eq!(merged.components.len(), a.components.len());
        }
        Err(e) => render(e.diagnostics()),
    }
}

pub fn assembler(data: &[u8]) {
    let loaded = match stackwright::assembly::load_str("fuzz.toml", &text(data)) {
        Ok(l) => l,
        Err(e) => return render(&e.diagnostics()),
    };
    match stackwright::Assembler::new().assemble_loaded(loaded) {
        Ok(a) => {
            render(a.warnings());
            match a.outputs() {
                Ok(outputs) => {
                    // The lock written must read back.
                    let lock = String::from_utf8(outputs["stackwright.lock"].clone())
                        .expect("the lock is UTF-8");
                    Lockfile::parse(&SourceText::new("stackwright.lock", lock))
                        .expect("a written lock reads back");
                }
                Err(e) => render(&e.diagnostics()),
            }
            let _ = a.summary();
        }
        Err(e) => {
            assert_eq!(e.exit_code(), 1, "only invalid input can fail here: {e}");
            render(&e.diagnostics())
        }
    }
}

pub fn lockfile(data: &[u8]) {
    let src = SourceText::new("stackwright.lock", text(data));
    match Lockfile::parse(&src) {
        Ok(l) => {
            let back = Lockfile::parse(&SourceText::new("again.lock", l.to_toml()))
                .expect("a lockfile written back reads back");
            assert_eq!(back, l);
        }
        Err(e) => render(e.diagnostics()),
    }
}

/// The built-in registry's manifests, read once.
fn manifests() -> &'static [Manifest] {
    static M: OnceLock<Vec<Manifest>> = OnceLock::new();
    M.get_or_init(|| {
        stackwright::Registry::builtin()
            .expect("the built-in registry loads")
            .manifests()
            .cloned()
            .collect()
    })
}

/// A line `#--- next file ---` splits the input into several files, merged in order.
pub const FILE_SEPARATOR: &str = "\n#--- next file ---\n";

pub fn linuxkit(data: &[u8]) {
    let t = text(data);
    let sources: Vec<SourceText> = t
        .split(FILE_SEPARATOR)
        .take(4)
        .enumerate()
        .map(|(i, part)| SourceText::new(format!("in-{i}.yml"), part))
        .collect();
    match stackwright::linuxkit::import(
        &sources,
        manifests(),
        &stackwright::linuxkit::ImportOptions::default(),
    ) {
        Ok(import) => {
            // The generated files must be valid Stackwright files.
            for (path, text) in import.files() {
                let src = SourceText::new(path.display().to_string(), text);
                let name = path.display().to_string();
                if name == "assembly.toml" {
                    if let Err(e) = AssemblyFile::parse(&src) {
                        panic!(
                            "generated assembly.toml does not parse:\n{}\n---\n{text}",
                            stackwright::types::diagnostic::render_all(e.diagnostics())
                        );
                    }
                } else if let Some(id) = name
                    .strip_prefix("components/")
                    .and_then(|n| n.strip_suffix(".toml"))
                {
                    if let Err(e) = Manifest::parse(&src, Some(id)) {
                        panic!(
                            "generated {name} does not parse:\n{}\n---\n{text}",
                            stackwright::types::diagnostic::render_all(e.diagnostics())
                        );
                    }
                }
            }
        }
        Err(e) => render(e.diagnostics()),
    }
}

/// Small limits, so a bomb is refused in milliseconds instead of seconds.
pub fn layer_limits() -> stackwright_build::Limits {
    stackwright_build::Limits {
        max_total_bytes: 64 << 20,
        max_entries: 100_000,
        max_file_size: 16 << 20,
        max_path_len: 4096,
    }
}

/// Recomputes the checksum of every tar header in `data` (walking entry sizes), so that
/// mutated headers reach the unpacker instead of failing the checksum test.
pub fn fix_tar_checksums(data: &mut [u8]) {
    let mut off = 0usize;
    while off + 512 <= data.len() {
        let h = &mut data[off..off + 512];
        if h.iter().all(|b| *b == 0) {
            off += 512;
            continue;
        }
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        let field = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(&field.as_bytes()[..8]);
        let size_field = &h[124..136];
        let size = if size_field[0] & 0x80 != 0 {
            size_field[4..]
                .iter()
                .fold(0u64, |a, b| a.saturating_mul(256).saturating_add(*b as u64))
        } else {
            std::str::from_utf8(size_field)
                .ok()
                .map(|t| t.trim_matches(|c: char| c == '\0' || c == ' '))
                .and_then(|t| u64::from_str_radix(t, 8).ok())
                .unwrap_or(0)
        };
        let blocks = size.div_ceil(512).min((data.len() / 512) as u64) as usize;
        off += 512 + blocks * 512;
    }
}

/// The first byte picks how the rest is fed: 0 as it is (tar, gzip or anything), 1 as a
/// tar with its header checksums fixed, 2 the same gzip'd.
pub fn layer(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return layer_blob(data);
    };
    match mode % 3 {
        0 => layer_blob(rest),
        1 => {
            let mut t = rest.to_vec();
            fix_tar_checksums(&mut t);
            layer_blob(&t)
        }
        _ => {
            let mut t = rest.to_vec();
            fix_tar_checksums(&mut t);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &t).expect("in memory");
            layer_blob(&gz.finish().expect("in memory"))
        }
    }
}

fn layer_blob(data: &[u8]) {
    use stackwright_build::{Origin, Policy, Spool, Tree};
    let spool = Spool::new(std::env::temp_dir());
    let mut tree = Tree::new(spool);
    let origin = Origin {
        image: "fuzz".into(),
        layer: "sha256:fuzz".into(),
    };
    // Two layers: the input over itself exercises whiteouts against a lower layer.
    for _ in 0..2 {
        if stackwright_build::apply_layer(
            &mut tree,
            data,
            None,
            &origin,
            layer_limits(),
            Policy::default(),
        )
        .is_err()
        {
            return;
        }
    }
    // Every key is inside the root: no `..`, no leading `/`.
    for (k, _) in tree.iter() {
        assert!(
            !k.starts_with(b"/"),
            "absolute key {:?}",
            String::from_utf8_lossy(k)
        );
        assert!(
            !k.split(|b| *b == b'/')
                .any(|c| c == b".." || c == b"." || c.is_empty())
                || k.is_empty(),
            "unsafe key {:?}",
            String::from_utf8_lossy(k)
        );
    }
}

/// Seed inputs for `target` built in code (the repository's files are added by the
/// caller): for `layer`, small tar and gzip'd tar archives with every entry kind.
pub fn generated_seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    if target != "layer" {
        return Vec::new();
    }
    let mut plain = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, body: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(body.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        plain.append_data(&mut h, path, body).unwrap();
    };
    add("etc/", tar::EntryType::Directory, b"", None);
    add("etc/motd", tar::EntryType::Regular, b"hello\n", None);
    add("etc/link", tar::EntryType::Symlink, b"", Some("motd"));
    add("etc/hard", tar::EntryType::Link, b"", Some("etc/motd"));
    add("etc/.wh.link", tar::EntryType::Regular, b"", None);
    add("var/.wh..wh..opq", tar::EntryType::Regular, b"", None);
    add("dev/null", tar::EntryType::Char, b"", None);
    add("run/fifo", tar::EntryType::Fifo, b"", None);
    let plain = plain.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let gz = gz.finish().unwrap();
    let with = |mode: u8, b: &[u8]| [&[mode][..], b].concat();
    vec![
        ("seed-plain.tar".into(), with(0, &plain)),
        ("seed-fixed.tar".into(), with(1, &plain)),
        ("seed-fixed-gz.tar".into(), with(2, &plain)),
        ("seed.tar.gz".into(), with(0, &gz)),
    ]
}
