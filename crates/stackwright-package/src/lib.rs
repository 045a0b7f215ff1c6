//! Stackwright's image builder: turns files (bytes or files on disk, with their modes),
//! symlinks and an image config (entrypoint, cmd, env, workdir, labels) into one OCI
//! image for one architecture, stored in the content-addressed blob cache of
//! `stackwright-oci` — the same cache pulled images go through, so an image layout
//! written by `RegistryClient::pull_into` and a root filesystem built from it include built
//! images exactly like pulled ones.
//!
//! ```
//! # fn main() -> Result<(), stackwright_package::PackageError> {
//! use stackwright_package::LocalImage;
//! let dir = tempfile::tempdir().unwrap();
//! let cache = stackwright_oci::Cache::new(dir.path());
//! let built = LocalImage::builder("amd64")
//!     .file("usr/bin/hello", 0o755, b"#!/bin/sh\necho hi\n".to_vec())
//!     .symlink("bin", "usr/bin")
//!     .entrypoint(["/usr/bin/hello"])
//!     .env("PATH=/usr/bin:/bin")
//!     .build(&cache)?;
//! assert!(cache.contains(&built.manifest.digest, built.manifest.size));
//! # Ok(()) }
//! ```
//!
//! Guarantees — the image digest depends only on the inputs, on every machine:
//! - one gzip'd tar layer, entries sorted by path (parents before children, implicit
//!   parents `0755`), owner `0:0` without user or group names, every mtime
//!   [`ImageBuilder::mtime`] (0 unless the caller passes one, the facade
//!   `SOURCE_DATE_EPOCH`), ustar headers with GNU
//!   long-name records where a path needs one;
//! - a gzip header with no file name, mtime 0 and OS byte 255; the tar cut into fixed
//!   64 KiB chunks, each with a flat byte histogram (random or already compressed data)
//!   written as deflate stored blocks, the others compressed at level 6 by the
//!   workspace's one deflate implementation (zlib-rs), all in one deflate stream
//!   (`gzip.rs`);
//! - config and manifest JSON with a fixed key order and no whitespace; the config's
//!   `created` is the same mtime;
//! - blobs enter the cache only complete, by rename ([`stackwright_oci::Cache::writer`]).
//!
//! A packaged component's image is a [`Recipe`]: its release files and `[package]`.
//! [`Recipe::build_or_reuse`] records each built image under a key over those inputs
//! (this crate's version included), so a rerun reuses it after checking its blobs are
//! still cached instead of building it again. A [`BuildQueue`] builds recipes on a pool of
//! threads as their files arrive (the caller reports each one, e.g. from
//! `RegistryClient::fetch_files_with`), so builds overlap the downloads.
//!
//! No network here; no clock, no environment (the caller passes `SOURCE_DATE_EPOCH`).

mod error;
mod extract;
mod gzip;
mod image;
mod queue;
mod recipe;

pub use error::PackageError;
pub use extract::{add_release_file, ExtractLimits};
pub use image::{BuiltImage, ImageBuilder, LocalImage, Source};
pub use queue::{BuildQueue, BuildResult};
pub use recipe::{Made, Recipe, VERSION};
