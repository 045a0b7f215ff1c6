//! The program in `examples/custom_platform.rs`, run through its own code: a registry of
//! the built-ins, a text manifest and a Rust component; an assembly from text; the
//! rendered `linuxkit.yml`; diagnostics printed as the command line prints them.

#[path = "../examples/custom_platform.rs"]
mod custom_platform;

use custom_platform::{run, ASSEMBLY, MAX_GREETING};

#[test]
fn the_program_renders_the_platform() {
    let r = run("edge.toml", ASSEMBLY);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let yml = &r.stdout;
    assert!(
        yml.contains("image: registry.example/site-agent:0.3.0"),
        "{yml}"
    );
    assert!(yml.contains("image: registry.example/motd:1.0.0"), "{yml}");
    // The Rust component's file names the kernel the base brings.
    assert!(yml.contains("path: etc/motd"), "{yml}");
    assert!(
        yml.contains("welcome to the edge\n    edge on linuxkit-kernel-6.12 6.12."),
        "{yml}"
    );
    // The base's components are there too.
    assert!(yml.contains("image: docker.io/linuxkit/getty:"), "{yml}");
    // No warnings: nothing on stderr.
    assert_eq!(r.stderr, "");
}

#[test]
fn the_program_prints_diagnostics_as_the_command_line_does() {
    let long = "x".repeat(MAX_GREETING + 1);
    let text = ASSEMBLY
        .replace("welcome to the edge", &long)
        .replace("site-agent = ", "site-agnet = ");
    let r = run("edge.toml", &text);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    // The unknown name stops resolution first, at its in-memory line.
    let want = "error[SW0301]: unknown component `site-agnet` in [components] — did you mean `site-agent`?\n --> <memory:edge.toml>:7:1\n";
    assert!(r.stderr.starts_with(want), "{}", r.stderr);
    assert!(
        r.stderr.ends_with("\n\n1 error(s), 0 warning(s)\n"),
        "{}",
        r.stderr
    );

    // With the name fixed, the Rust component's own check, at the greeting.
    let r = run("edge.toml", &ASSEMBLY.replace("welcome to the edge", &long));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with(&format!(
            "error[SW0511]: the motd greeting is over {MAX_GREETING} characters\n --> <memory:edge.toml>:6:"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("= help: shorten it"), "{}", r.stderr);
}
