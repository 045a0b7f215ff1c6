//! Embeds the repository's example assemblies (`assemblies/*.toml`), so an installed binary
//! can `extends = ["builtin:linuxkit-base"]` and `stackwright check k8s-worker` from any
//! directory, as the built-in components are embedded by `stackwright-registry`.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../assemblies");
    let root = root.canonicalize().unwrap_or(root);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code = String::from(
        "/// Built-in assemblies: (name, i.e. the file stem under assemblies/, contents), sorted.\npub(crate) static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_stem().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({:?}, include_str!({:?})),",
            name,
            f.to_string_lossy()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_assemblies.rs");
    std::fs::write(out, code).unwrap();
}
