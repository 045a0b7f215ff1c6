//! Turning a refused search into an explanation a person can follow, in two steps, each
//! testable alone: [`proof::walk`] turns the search's proof into facts (the original rules
//! it used, grouped), and [`render::render`] writes those facts as a derivation.

mod minimal;
mod proof;
mod render;

pub(crate) use minimal::minimise;

use crate::provider::Provider;
use crate::refusal::Explanation;
use crate::search::Solver;

/// The explanation of the refusal the search `s` ended in.
pub(crate) fn explain<P: Provider + ?Sized>(s: &mut Solver<'_, P>) -> Explanation {
    let proof = proof::walk(s);
    render::render(s, proof)
}
