//! The command line explains itself (tidy-style, over clap's `Command` tree): every
//! argument has a description, every command's `--help` ends with examples, and every
//! example is a command line `stackwright` accepts. Also `--version` with the commit and
//! the shell completions, through the real binary.

use std::path::Path;
use std::process::Command;

use clap::{CommandFactory, Parser};
use stackwright_cli::Cli;

const BIN: &str = env!("CARGO_BIN_EXE_stackwright");

/// Every command of the tree, with its path (`["stackwright", "run", "qemu"]`).
fn commands() -> Vec<(Vec<String>, clap::Command)> {
    let mut root = Cli::command();
    root.build();
    let mut out = Vec::new();
    let mut todo = vec![(vec![root.get_name().to_string()], root)];
    while let Some((path, cmd)) = todo.pop() {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            todo.push((p, sub.clone()));
        }
        out.push((path, cmd));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The example lines of a command's after-help: `stackwright …` up to a `#` comment or a
/// `>` redirection, split into words.
fn examples(cmd: &clap::Command) -> Vec<Vec<String>> {
    let text = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let Some((_, list)) = text.split_once("Examples:\n") else {
        return Vec::new();
    };
    list.lines()
        .map(|l| {
            let l = l.split(['#', '>']).next().unwrap_or("");
            l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
        })
        .filter(|w| w.first().is_some_and(|w| w == "stackwright"))
        .collect()
}

#[test]
fn every_argument_is_described() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let help = arg
                .get_help()
                .or(arg.get_long_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{} {}", path.join(" "), arg.get_id()));
            }
        }
        if cmd.get_about().is_none() && path.len() > 1 {
            missing.push(format!("{} (the command itself)", path.join(" ")));
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without a description (add a /// doc comment):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_command_has_examples_that_parse() {
    let mut problems = Vec::new();
    let mut count = 0;
    for (path, cmd) in commands() {
        let list = examples(&cmd);
        if list.is_empty() {
            problems.push(format!(
                "`{}` has no example (after_help = \"Examples:\\n  stackwright …\")",
                path.join(" ")
            ));
        }
        for words in list {
            count += 1;
            if !words.starts_with(&path) {
                problems.push(format!(
                    "`{}`: example `{}` is not of this command",
                    path.join(" "),
                    words.join(" ")
                ));
            }
            if let Err(e) = Cli::try_parse_from(&words) {
                problems.push(format!("`{}` does not parse: {e}", words.join(" ")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(count >= 30, "only {count} examples");
}

#[test]
fn help_shows_the_examples() {
    let out = Command::new(BIN)
        .args(["run", "qemu", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Examples:\n  stackwright run qemu out/my-platform"),
        "{text}"
    );
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let version = format!("stackwright {}", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&version), "{text}");
    // Built from a checkout (as here and in CI): the commit, as `git rev-parse` says.
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    match head {
        Some(commit) => assert_eq!(text, format!("{version} ({commit})\n")),
        None => assert_eq!(text, format!("{version}\n")),
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let script = |shell: &str| {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let s = script(shell);
        for word in [
            "assemble",
            "completions",
            "deny-warnings",
            "insecure-registry",
        ] {
            assert!(s.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash loads it and registers the function (bash is on every CI machine).
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source <('{BIN}' completions bash) && complete -p stackwright"
        ))
        .output()
        .expect("bash");
    assert!(
        bash.status.success(),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    assert!(String::from_utf8_lossy(&bash.stdout).contains("_stackwright"));
    let bad = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
