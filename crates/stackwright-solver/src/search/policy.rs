//! Refusals by `policy.privileged`, reported all at once with the policy's own code.
//!
//! The search never chooses a privileged release the policy does not allow. When that
//! leaves no solution, the request is solved again with the policy lifted: if that
//! succeeds, every privileged component of that solution is one the policy refuses, and
//! each is reported (SW0507) with why it is needed, instead of a derivation that names
//! only the first one the search ran into.

use stackwright_types::assembly::PrivilegedPolicy;

use crate::provider::Provider;
use crate::refusal::{PolicyRefusal, Refusal};
use crate::request::{Placed, Request};

use super::{Forbid, Solver};

/// `Some` when the policy is what refuses `req` (the refused search `s` ruled out a
/// privileged release, and lifting the policy gives a solution).
pub(crate) fn privileged_refusal<P: Provider + ?Sized>(
    p: &P,
    req: &Request,
    s: &Solver<'_, P>,
) -> Option<Refusal> {
    if !s.slot_forbid.contains(&Forbid::Privileged) {
        return None;
    }
    let mut lifted = req.clone();
    lifted.privileged = Placed {
        value: PrivilegedPolicy::Any,
        location: req.privileged.location.clone(),
    };
    let mut s2 = Solver::new(p, &lifted, &[]);
    if !s2.solve() {
        return None;
    }
    let res = s2.extract().ok()?;
    let mut list = Vec::new();
    for (id, chosen) in &res.components {
        let n = s2.index.get(id.as_str())?;
        if !s2.names[*n as usize].privileged || req.privileged.value.allows(id) {
            continue;
        }
        list.push(PolicyRefusal {
            component: id.clone(),
            version: chosen.version.to_string(),
            needed: chosen.why.iter().map(|w| w.describe()).collect(),
            location: p.component(id).and_then(|c| c.location.cloned()),
            policy: req.privileged.location.clone(),
        });
    }
    (!list.is_empty()).then_some(Refusal::Privileged(list))
}
