//! The library inside async code (`#[tokio::test]`, as a `#[tokio::main]` program meets it),
//! with the `oci` feature: registry work runs on the caller's runtime. Before, `write` with
//! `--pull` and an `oci://` parent started a runtime of their own and panicked there
//! ("Cannot start a runtime from within a runtime"); the blocking twins now refuse with a
//! typed error instead. No registry is needed: the failures are the ones of an empty cache
//! (`offline`) and of a registry that refuses connections (127.0.0.1:1).

use std::path::{Path, PathBuf};

use stackwright::output::{self, Format, WriteOptions};
use stackwright::share::{self, ShareOptions};
use stackwright::{Assembler, Error, NoProgress};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assemblies")
        .join(format!("{name}.toml"))
}

#[tokio::test]
async fn write_with_pull_runs_on_the_callers_runtime() {
    let mut a = Assembler::new()
        .assemble_file(&example("docker-host"))
        .await
        .expect("assembles");
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let opts = WriteOptions {
        pull: true,
        formats: vec![Format::Tar],
        offline: true,
        cache: Some(work.path().join("empty-cache")),
        ..WriteOptions::default()
    };
    let e = output::write(&mut a, &out, &opts, &NoProgress)
        .await
        .expect_err("an empty cache offline has none of the images");
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("offline"), "{e}");
    assert!(!out.exists(), "nothing is written on failure");

    // Without registry work the same call writes the text outputs.
    let written = output::write(&mut a, &out, &WriteOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert!(written.join("linuxkit.yml").is_file());
}

#[tokio::test]
async fn the_blocking_twins_refuse_inside_a_runtime() {
    let e = Assembler::new()
        .assemble_file_blocking(&example("docker-host"))
        .expect_err("blocking inside a runtime is refused");
    assert!(
        matches!(
            e,
            Error::BlockingInRuntime {
                function: "Assembler::assemble_file_blocking",
                instead: "Assembler::assemble_file"
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 2);
    let mut a = Assembler::new()
        .assemble_file(&example("docker-host"))
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let e = output::write_blocking(
        &mut a,
        &work.path().join("out"),
        &WriteOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(e, Error::BlockingInRuntime { .. }), "{e:?}");
}

#[test]
fn the_blocking_twins_work_outside_a_runtime() {
    let mut a = Assembler::new()
        .assemble_file_blocking(&example("docker-host"))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let written = output::write_blocking(
        &mut a,
        &work.path().join("out"),
        &WriteOptions {
            formats: vec![Format::Sbom],
            ..WriteOptions::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert!(written.join("docker-host.spdx.json").is_file());
}

#[tokio::test]
async fn an_oci_parent_is_fetched_on_the_callers_runtime() {
    let work = tempfile::tempdir().unwrap();
    let child = work.path().join("child.toml");
    // Port 1 on loopback refuses connections: a failure at once, no retries.
    std::fs::write(
        &child,
        "[assembly]\nextends = [\"oci://127.0.0.1:1/asm/base:v1\"]\n\n[components]\ndockerd = \"*\"\n",
    )
    .unwrap();
    let opts = ShareOptions {
        cache: Some(work.path().join("cache")),
        ..ShareOptions::default()
    };
    let e = share::load(&child, &opts, None)
        .await
        .expect_err("nothing listens on 127.0.0.1:1");
    assert_eq!(e.exit_code(), 3, "{e}");
    let text = e.diagnostics()[0].message.clone();
    assert!(
        text.contains("cannot fetch the parent assembly oci://127.0.0.1:1/asm/base:v1"),
        "{text}"
    );
    // The Assembler's own loading goes the same way.
    let e = Assembler::new().assemble_file(&child).await.unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
}
