//! An upgrade plan (`stackwright upgrade`): ordered steps from a locked platform to a
//! target, each step a whole platform the solver accepted, each change with the rule that
//! forces it. Planned by the facade; rendered by `stackwright-render`.

use serde::Serialize;

use crate::lock::Lockfile;

/// The steps, in the order they are to be applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpgradePlan {
    pub assembly: String,
    pub steps: Vec<UpgradeStep>,
}

/// One step: what moves, and the platform after it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpgradeStep {
    pub changes: Vec<UpgradeChange>,
    /// The platform after this step, as its lock (`--write-steps` writes it).
    #[serde(skip)]
    pub lock: Lockfile,
}

/// One component moving: `from` is `None` when the step adds it, `to` when it removes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpgradeChange {
    pub id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The rule that forces this change (and its place in the order).
    pub reason: String,
}
