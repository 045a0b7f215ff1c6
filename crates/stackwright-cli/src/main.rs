//! The `stackwright` binary: parses arguments and exits with SPEC §7's code.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(stackwright_cli::run(args));
}
