//! Stackwright's test support (never published, only a dev-dependency, and a dependency
//! of `xtask-bench` for benchmarks and of `xtask` for `fetch`): a real registry on 127.0.0.1 (Debian's `docker-registry`)
//! with its storage in a temporary directory, small OCI images built offline, a TCP
//! proxy that can make the registry "go away" after a number of bytes, a static file
//! server with fault injection ([`FileServer`], for release-file downloads), lookup of the
//! external programs tests need, the Debian packages of the end-to-end test's component
//! library (`debian`), a throw-away network namespace for running CNI plugins (`netns`),
//! the reference SBOM validators, and the one pseudo-random generator ([`SplitMix64`]).
//!
//! Registry tests must not pass silently on a machine without the registry:
//! [`LocalRegistry::start_or_skip`] panics with an installation hint unless
//! `STACKWRIGHT_SKIP_REGISTRY_TESTS=1` is set.

pub mod boot;
pub mod debian;
mod files;
mod image;
pub mod netns;
mod programs;
mod proxy;
mod registry;
mod rng;
mod sbom;

pub use files::{FileServer, ServedRequest};
pub use image::{
    big_layer, image, index, index_with_attestations, layer, layer_with_modes, oci_archive,
    spdx_attestation, write_layout, TestImage, TestIndex, TestLayer,
};
pub use programs::{
    config_tool_or_skip, find_program, runc_or_skip, skip_requested, skopeo_or_skip,
    static_program, umoci_or_skip, SKIP_CONFIG_TOOLS_ENV, SKIP_ENV, SKIP_RUNC_ENV,
};
pub use proxy::CutProxy;
pub use registry::{LocalRegistry, LoggedRequest, TEST_CA, TEST_PASSWORD, TEST_USER};
pub use rng::SplitMix64;
pub use sbom::{
    sbom_validators_or_skip, validate_all, validate_cyclonedx, validate_spdx, SKIP_SBOM_ENV,
};
