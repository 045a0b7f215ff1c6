//! Assemblies: reading one through its `extends` chain ([`load`]), and checking a resolved
//! platform against every rule of SPEC §5 ([`validate`]).
//!
//! Invariants: [`load`] reads only the assembly files and nothing else; published
//! (`oci://`) parents come only through the caller's [`ParentSource`] ([`load_with`]), so
//! this crate never touches the network; [`validate`] does no I/O and reports every
//! problem it finds, never just the first.

mod coherence;
mod load;
mod validate;

pub use load::{
    builtin, builtin_names, load, load_str, load_text, load_with, FetchedParent, Loaded,
    NoParentSource, ParentSource, RemoteParent, BUILTIN_SCHEME, MAX_EXTENDS_DEPTH, OCI_SCHEME,
};
pub use validate::{
    component_image, effective_container, effective_image, packaged, platform_components, validate,
    Validated,
};

use stackwright_types::Diagnostic;

/// Errors of this crate: the assembly cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the assembly has {} problem(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// A published (`oci://`) parent could not be fetched.
    #[error("{}cannot fetch the parent assembly {uri}: {message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    Parent {
        uri: String,
        /// The `extends` entry naming it.
        location: Option<stackwright_types::Location>,
        message: String,
    },
}

impl AssemblyError {
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            AssemblyError::Invalid(d) => d.clone(),
            AssemblyError::Io { path, source } => vec![Diagnostic::error(
                stackwright_types::diagnostic::IO_ERROR,
                format!("cannot read {path}: {source}"),
            )
            .at(stackwright_types::Location::file_only(path.clone()))],
            AssemblyError::Parent {
                uri,
                location,
                message,
            } => vec![Diagnostic::error(
                stackwright_types::diagnostic::IO_ERROR,
                format!("cannot fetch the parent assembly {uri}: {message}"),
            )
            .at_opt(location.clone())
            .hint("check the reference, the network, credentials in ~/.docker/config.json, or --insecure-registry for plain HTTP")],
        }
    }
}
