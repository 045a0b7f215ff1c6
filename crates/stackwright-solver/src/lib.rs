//! Stackwright's solver: given what an assembly asks for ([`Request`]) and access to the
//! components ([`Provider`]), picks one release of each component needed so that every
//! rule of SPEC §4 holds ([`Resolution`]), or refuses with a derivation a person can
//! follow ([`Refusal`]).
//!
//! No I/O, no async. The search is conflict-driven (CDCL, in the manner of resolvo):
//! one boolean per release, unit propagation over watched literals, native "at most one"
//! groups for components and `one` capabilities, 1-UIP clause learning with backjumping,
//! and components loaded from the provider only as they become reachable. Refusals keep
//! the proof: the original rules it used become the explanation.
//!
//! SPEC §4's ranking (prefer, default provider, fewest components, newest versions) is
//! met by the order the search tries candidates in, and the fewest components exactly:
//! after the first answer the request is searched again with a bound on the count until
//! none is found (`search::fewest` defines the order precisely and bounds the cost).
//!
//! Entry points: [`resolve`], and [`ManifestProvider`] over the real registry model.

// A refusal carries its whole explanation; it is returned once per resolution, so its
// size does not matter and boxing it would only make matching on it clumsier.
#![allow(clippy::result_large_err)]

mod explain;
mod intern;
mod manifest_provider;
mod order;
mod provider;
mod refusal;
mod request;
mod resolution;
mod search;
mod verify;

#[cfg(test)]
mod testing;

pub use manifest_provider::ManifestProvider;
pub use provider::{
    CapabilityInfo, ComponentHead, Edge, Provider, Range, ReleaseDetails, ReleaseHead,
};
pub use refusal::{Explanation, Fact, PolicyRefusal, Refusal, Section, UnknownName};
pub use request::{Ask, Placed, Request};
pub use resolution::{Chosen, Pick, Resolution, StartOrder, Stats, Why, Whys};
pub use verify::{verify, Violation};

/// The capability whose provider is "the kernel" (SPEC §4 rule 6).
pub const KERNEL_CAPABILITY: &str = "kernel";

/// Resolves `request` against the components `provider` knows.
///
/// Deterministic: the same provider answers and request give the same result, whatever
/// order the provider lists things in.
pub fn resolve<P: Provider + ?Sized>(
    provider: &P,
    request: &Request,
) -> Result<Resolution, Refusal> {
    search::resolve(provider, request)
}
