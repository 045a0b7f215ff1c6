//! Stackwright's pure data model.
//!
//! Everything here is plain data plus parsing from text: component manifests
//! ([`manifest`]), declared capabilities ([`capability`]), LinuxKit's per-image fields
//! ([`container`]), image references ([`reference`]), assembly files ([`assembly`]), LinuxKit's YAML model ([`linuxkit`]),
//! lockfiles ([`lock`]) and what differs between two ([`lockdiff`]), and the diagnostics every layer reports ([`diagnostic`]).
//!
//! Invariant: this crate performs no I/O. Callers hand it text and a display name for the
//! file the text came from; every error it reports carries that name, a line and a column.

pub mod assembly;
pub use stackwright_boot_plan as boot;
pub mod capability;
pub mod container;
pub mod diagnostic;
pub mod generate;
mod guarded_toml;
pub mod hex;
pub mod linuxkit;
pub mod lock;
pub mod lockdiff;
pub mod manifest;
pub mod package;
pub mod reference;
pub mod source;
pub mod suggest;
pub mod time;
pub mod upgrade;
pub mod version;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use source::{Location, SourceText};

/// Errors of this crate: a text that could not be turned into the model.
#[derive(Debug, thiserror::Error)]
pub enum TypesError {
    /// The text was parsed, and one or more problems were found. Every problem is listed.
    #[error("{} problem(s) in {file}", diagnostics.len())]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// An image reference that does not follow Docker's reference grammar
    /// ([`reference::ImageRef::parse`]).
    #[error("`{reference}` is not a valid image reference: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// A `SOURCE_DATE_EPOCH` that is not a number of seconds ([`time::source_date_epoch`]).
    #[error("SOURCE_DATE_EPOCH `{value}` is not a number of seconds since 1970-01-01")]
    InvalidSourceDateEpoch { value: String },
}

impl TypesError {
    /// The diagnostics carried by this error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            TypesError::Invalid { diagnostics, .. } => diagnostics,
            TypesError::InvalidReference { .. } | TypesError::InvalidSourceDateEpoch { .. } => &[],
        }
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        match self {
            TypesError::Invalid { diagnostics, .. } => diagnostics,
            TypesError::InvalidReference { .. } | TypesError::InvalidSourceDateEpoch { .. } => {
                Vec::new()
            }
        }
    }
}

/// Inputs larger than this are refused before parsing: no real manifest or assembly comes
/// near it, and it bounds the work a hostile file can cause.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of arrays/tables accepted in a TOML input. The `toml` parser recurses,
/// so deeper input is refused up front rather than risking the stack.
pub const MAX_NESTING: usize = 64;

/// Most components one registry, or one assembly's `[components]`, may hold. The real
/// registry has about a hundred; past this the solver's work is not worth starting.
pub const MAX_COMPONENTS: usize = 10_000;

/// Most dependency edges (requires, constrains, conflicts and recommends together) one
/// release may list.
pub const MAX_REQUIREMENTS: usize = 1_000;
