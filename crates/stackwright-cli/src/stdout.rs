//! Everything the command line prints on stdout goes through here, so that a reader who
//! stops early (`stackwright components | head -2`) ends the run quietly instead of a
//! panic: `println!` panics on a closed pipe (Rust ignores SIGPIPE, so the write fails
//! with `EPIPE`). After a broken pipe nothing more is written to stdout and the command's
//! own exit code stands; any other write error (a full disk under `> file`) is reported
//! once, as an I/O failure (exit 3).

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// What happened to stdout during this run.
#[derive(Debug, Default)]
pub(crate) enum State {
    #[default]
    Open,
    /// The reader went away: stop writing, say nothing.
    Closed,
    /// Writing failed otherwise: stop writing, report it.
    Failed(io::Error),
}

static STATE: Mutex<State> = Mutex::new(State::Open);

/// Forgets an earlier run's state (`run` is called several times in one test process).
pub(crate) fn reset() {
    *lock() = State::Open;
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes to stdout unless it is already closed or broken.
pub(crate) fn write(args: fmt::Arguments<'_>) {
    let mut state = lock();
    if !matches!(*state, State::Open) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        *state = classify(e);
    }
}

/// Flushes stdout and returns how it ended.
pub(crate) fn finish() -> State {
    let mut state = lock();
    if matches!(*state, State::Open) {
        if let Err(e) = io::stdout().lock().flush() {
            *state = classify(e);
        }
    }
    std::mem::take(&mut *state)
}

fn classify(e: io::Error) -> State {
    if e.kind() == io::ErrorKind::BrokenPipe {
        State::Closed
    } else {
        State::Failed(e)
    }
}

/// `print!` that ends quietly on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::write(format_args!($($arg)*)) };
}

/// `println!` that ends quietly on a closed stdout.
macro_rules! outln {
    () => { $crate::stdout::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};
