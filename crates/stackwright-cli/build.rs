//! `stackwright --version`: the crate version and, when built from a git checkout, the
//! commit (`0.1.0 (1a2b3c4)`). Without git, or outside a checkout (a crates.io build), the
//! version alone: this never fails the build.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            // Rebuild when HEAD moves: HEAD itself, the branch it names, packed refs.
            let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watched.push(git(&["rev-parse", "--git-path", &branch]));
            }
            watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
            for path in watched.into_iter().flatten().map(PathBuf::from) {
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            format!("{version} ({commit})")
        }
        None => version,
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=STACKWRIGHT_VERSION={full}");
}
