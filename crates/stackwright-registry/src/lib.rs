//! Stackwright's component registry.
//!
//! - [`Component`] is the extension point: a small, object-safe trait that TOML-described
//!   components implement through [`ManifestComponent`], and that Rust users implement to
//!   add behaviour (validate their own config, contribute generated files).
//! - [`RegistryBuilder`] gathers components from the built-in set (embedded at build
//!   time from the repository's `components/`), from directories, and from Rust code,
//!   then [`RegistryBuilder::build`] checks the whole registry in one pass: duplicates,
//!   requirements naming nothing, undeclared capabilities, names that are both, default
//!   providers that do not provide.
//!
//! Invariant: reading directories is the only I/O here, confined to [`load`].

mod component;
pub mod config;
mod load;
mod registry;

pub use component::{
    generate_from_manifest, Component, ComponentContext, ComponentError, Contribution,
    ManifestComponent, PlatformComponent,
};
pub use load::{load_dir, BUILTIN_ROOT};
pub use registry::{ComponentOrigin, Registry, RegistryBuilder};

use stackwright_types::Diagnostic;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry has problems; all of them are listed.
    #[error("the component registry has {} problem(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// A directory of components could not be read.
    #[error("cannot read components from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            RegistryError::Invalid(d) => d.clone(),
            RegistryError::Io { path, source } => vec![Diagnostic::error(
                stackwright_types::diagnostic::IO_ERROR,
                format!("cannot read {path}: {source}"),
            )
            .at(stackwright_types::Location::file_only(path.clone()))
            .hint("check the path and its permissions")],
        }
    }
}

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}
