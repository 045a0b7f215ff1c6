//! `stackwright upgrade`: an upgrade plan as text or JSON.

use serde_json::json;
use stackwright_types::upgrade::UpgradePlan;

fn side(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

/// The plan for a terminal: each step numbered, each change with its reason.
pub fn upgrade_text(plan: &UpgradePlan) -> String {
    if plan.steps.is_empty() {
        return format!("{}: already there, nothing to change\n", plan.assembly);
    }
    let mut s = format!("{}: {} step(s)\n", plan.assembly, plan.steps.len());
    for (i, step) in plan.steps.iter().enumerate() {
        s.push_str(&format!("\nstep {}\n", i + 1));
        for c in &step.changes {
            s.push_str(&format!(
                "  {} {} -> {}\n      {}\n",
                c.id,
                side(&c.from),
                side(&c.to),
                c.reason
            ));
        }
    }
    s
}

/// The plan as JSON: `{"assembly","steps":[{"changes":[{"id","from","to","reason"}]}]}`.
pub fn upgrade_json(plan: &UpgradePlan) -> String {
    let v = json!({
        "assembly": plan.assembly,
        "steps": plan.steps,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("plans serialize");
    s.push('\n');
    s
}
