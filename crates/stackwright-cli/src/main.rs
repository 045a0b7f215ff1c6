//! The `stackwright` binary: parses arguments and exits with the documented exit code.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(stackwright_cli::run(args));
}
