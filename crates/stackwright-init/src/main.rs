//! `stackwright-init` — PID 1 of a Stackwright platform.
//!
//! As PID 1 it takes no arguments. Elsewhere (tests, trying a plan on a workstation):
//! `stackwright-init --root DIR [--plan FILE] [--status FILE] [--exit-when-idle]`; it then
//! mounts nothing, sets nothing and powers nothing off, and exits 0 when nothing failed.

#![allow(clippy::print_stderr)] // PID 1's own messages go to the console

use std::path::PathBuf;

use stackwright_init::{run, sys, Options};

fn usage() -> ! {
    eprintln!(
        "usage: stackwright-init [--root DIR] [--plan FILE] [--status FILE] [--exit-when-idle]"
    );
    std::process::exit(2)
}

fn main() {
    let pid1 = std::process::id() == 1;
    let mut opts = Options::pid1();
    opts.pid1 = pid1;
    let mut plan: Option<PathBuf> = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().map(PathBuf::from).unwrap_or_else(|| usage());
        match a.to_str() {
            Some("--root") => opts.root = value(),
            Some("--plan") => plan = Some(value()),
            Some("--status") => opts.status = Some(value()),
            Some("--exit-when-idle") => opts.exit_when_idle = true,
            // The kernel passes unknown command-line words to init: ignore them as PID 1.
            _ if pid1 => {}
            _ => usage(),
        }
    }
    if !pid1 && opts.status.as_deref() == Some(std::path::Path::new("/dev/ttyS1")) {
        opts.status = None;
    }
    opts.plan = plan.unwrap_or_else(|| opts.root.join(stackwright_boot_plan::BOOT_PLAN_PATH));
    match run(&opts) {
        Ok((action, failures)) => {
            if pid1 {
                let e = sys::reboot(action);
                eprintln!("stackwright-init: {}: {e}", action.as_str());
                loop {
                    std::thread::park();
                }
            }
            std::process::exit(if failures == 0 { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("stackwright-init: {e}");
            if pid1 {
                // Nothing to run: power off rather than panic the kernel.
                let _ = sys::reboot(sys::Action::Poweroff);
                loop {
                    std::thread::park();
                }
            }
            std::process::exit(1);
        }
    }
}
