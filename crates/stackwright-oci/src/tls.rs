//! The TLS crypto provider: rustls with *ring*.
//!
//! reqwest (and oci-client over it) is built with `rustls-no-provider`, so no aws-lc-sys
//! C build is part of a cold build (it was the second-longest unit; issue 16). rustls then
//! takes its provider from the process default, and building a client without one panics.
//! Every client this crate makes is made after [`install_tls_provider`], which installs
//! *ring*'s provider unless the process has one already (a program embedding this crate
//! may install its own first; it is then used as is).

/// Installs *ring* as rustls' process-wide crypto provider if none is installed yet.
/// Idempotent and cheap; call it before building any reqwest or oci-client client
/// outside this crate (test support does).
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race: its provider (also ring, or the embedder's)
        // is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
