//! `plan.json` and the summary table.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::{Platform, RenderError};

/// The whole resolved plan for other tools (SPEC §7): at least `assembly`, `arch`,
/// `components` (sorted by id, each with id, version, category, stage, image, reason) and
/// `order` (start levels). A part built into another component's process has `built_into`
/// (its host) instead of `image`, and no start level; a `sandbox` image (pause) has
/// `pulled_by`, the CRI runtimes that pull it. `schema/plan-schema.json` is the schema.
pub fn plan_json(p: &Platform<'_>) -> String {
    let components: Vec<Value> = p
        .resolution
        .components
        .iter()
        .map(|(id, c)| {
            let m = p.registry.manifest(id);
            let mut entry = json!({
                "id": id,
                "version": c.version.to_string(),
                "category": m.map(|m| m.category.as_str()),
                "stage": m.map(|m| m.stage.as_str()),
                "reason": p.reason(id),
                "reasons": c.why.iter().map(|w| w.summary()).collect::<Vec<_>>(),
                "privileged": m.map(|m| m.privileged),
                "verified": m.map(|m| m.verified),
            });
            // A built-in part has no image to be missing: it says whose process it is.
            match p.built_into(id) {
                Some(host) => entry["built_into"] = json!(host),
                None => entry["image"] = json!(p.image_ref(id)),
            }
            if let Some(cri) = p.pulled_by(id) {
                entry["pulled_by"] = json!(cri);
            }
            entry
        })
        .collect();
    let external: serde_json::Map<String, Value> = p
        .resolution
        .external
        .iter()
        .map(|(id, v)| (id.clone(), Value::String(v.to_string())))
        .collect();
    let warnings: Vec<Value> = p
        .validated
        .diagnostics
        .iter()
        .map(|d| serde_json::to_value(d).expect("diagnostics serialize"))
        .collect();
    let plan = json!({
        "assembly": p.loaded.name,
        "version": p.loaded.assembly.version.as_ref().map(|v| v.value.to_string()),
        "arch": p.loaded.arch.as_str(),
        "components": components,
        "external": external,
        "order": order_levels(p),
        "stages": {
            "kernel": p.resolution.start.kernel,
            "init": p.resolution.start.init,
            "onboot": p.resolution.start.onboot,
            "services": service_levels(p),
            "onshutdown": p.resolution.start.onshutdown,
        },
        "files": p.validated.files.iter().map(|(f, from)| json!({"path": f.path, "from": from})).collect::<Vec<_>>(),
        "diagnostics": warnings,
    });
    let mut s = serde_json::to_string_pretty(&plan).expect("plan serializes");
    s.push('\n');
    s
}

/// Start levels in order: the kernel, each init image, each onboot container (they run
/// one after another), each service level (parallel inside a level), each onshutdown.
pub fn order_levels(p: &Platform<'_>) -> Vec<Vec<String>> {
    let s = &p.resolution.start;
    let mut levels: Vec<Vec<String>> = Vec::new();
    if !s.kernel.is_empty() {
        levels.push(s.kernel.clone());
    }
    levels.extend(s.init.iter().map(|i| vec![i.clone()]));
    levels.extend(s.onboot.iter().map(|i| vec![i.clone()]));
    levels.extend(service_levels(p));
    levels.extend(s.onshutdown.iter().map(|i| vec![i.clone()]));
    levels
}

/// The service levels of the start order without built-in parts: those are not started,
/// they run when their host does (swarmkit with dockerd). A level left empty is dropped.
fn service_levels(p: &Platform<'_>) -> Vec<Vec<String>> {
    p.resolution
        .start
        .services
        .iter()
        .map(|level| {
            level
                .iter()
                .filter(|id| p.built_into(id).is_none())
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|level| !level.is_empty())
        .collect()
}

/// The plan's JSON schema (`schema/plan-schema.json`, documented in
/// docs/assembly-format.md).
const PLAN_SCHEMA: &str = include_str!("../schema/plan-schema.json");

/// Checks a `plan.json` text against the plan's schema; the error lists every violation
/// with its JSON path.
pub fn check_plan_schema(plan: &str) -> Result<(), RenderError> {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let value: Value =
        serde_json::from_str(plan).map_err(|e| RenderError::PlanSchema(e.to_string()))?;
    let v = VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(PLAN_SCHEMA).expect("embedded schema is JSON");
        jsonschema::draft202012::new(&schema).expect("embedded schema compiles")
    });
    let errors: Vec<String> = v
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RenderError::PlanSchema(errors.join("; ")))
    }
}

/// What the stage column says: the stage, or for a part with no section of its own,
/// where it runs (a built-in part: in its host's process; pause: pulled by the CRI runtime).
fn stage_text(p: &Platform<'_>, id: &str, stage: &str) -> String {
    if let Some(host) = p.built_into(id) {
        return format!("built into {host}");
    }
    match p.pulled_by(id) {
        Some(cri) if cri.is_empty() => format!("{stage} (no CRI runtime chosen to pull it)"),
        Some(cri) => format!("{stage}, pulled by {}", cri.join(", ")),
        None => stage.to_string(),
    }
}

/// A short table of what was chosen and why, for the terminal.
pub fn summary_table(p: &Platform<'_>) -> String {
    let mut rows: Vec<Vec<String>> = p
        .resolution
        .components
        .iter()
        .map(|(id, c)| {
            let stage = p
                .registry
                .manifest(id)
                .map(|m| m.stage.as_str())
                .unwrap_or("-");
            // The terminal table keeps the assembly line: it is read where the file is.
            let why = c.why.first().map(|w| w.describe()).unwrap_or_default();
            vec![
                id.clone(),
                c.version.to_string(),
                stage_text(p, id, stage),
                why,
            ]
        })
        .collect();
    for (id, v) in &p.resolution.external {
        rows.push(vec![
            id.clone(),
            v.to_string(),
            "external".into(),
            "present outside the platform, not installed".into(),
        ]);
    }
    text_table(&["component", "version", "stage", "why"], &rows)
}

/// A plain-text table: columns padded to their widest cell, the last column unpadded.
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(n.saturating_sub(1)) {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 < n {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            } else {
                s.push_str(c);
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(component: Value) -> String {
        json!({
            "assembly": "a", "version": null, "arch": "amd64",
            "components": [component], "external": {}, "order": [["x"]],
            "stages": {"kernel": [], "init": [], "onboot": [], "services": [["x"]], "onshutdown": []},
            "files": [{"path": "etc/x", "from": "assembly"}], "diagnostics": [],
        })
        .to_string()
    }

    fn component(stage: &str) -> Value {
        json!({
            "id": "x", "version": "1.0.0", "category": "runtime", "stage": stage,
            "reason": "asked for", "reasons": ["asked for"], "privileged": false, "verified": true,
        })
    }

    #[test]
    fn the_schema_takes_an_image_a_built_in_part_and_a_pulled_sandbox() {
        let mut c = component("service");
        c["image"] = json!("docker.io/x/y:1");
        check_plan_schema(&plan(c)).unwrap();
        let mut c = component("service");
        c["image"] = Value::Null;
        check_plan_schema(&plan(c)).unwrap();
        let mut c = component("service");
        c["built_into"] = json!("dockerd");
        check_plan_schema(&plan(c)).unwrap();
        let mut c = component("sandbox");
        c["image"] = json!("registry.k8s.io/pause:3.10.2");
        c["pulled_by"] = json!(["containerd"]);
        check_plan_schema(&plan(c)).unwrap();
    }

    #[test]
    fn the_schema_refuses_what_a_reader_would_misread() {
        let bad = [
            // A built-in part with an image field, or with neither.
            json!({"built_into": "dockerd", "image": null}),
            json!({}),
            // A sandbox image that does not say who pulls it, and pulled_by elsewhere.
            json!({"stage": "sandbox", "image": "p:1"}),
            json!({"image": "p:1", "pulled_by": ["containerd"]}),
            json!({"image": "p:1", "stage": "later"}),
        ];
        for extra in bad {
            let mut c = component("service");
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            let err = check_plan_schema(&plan(c.clone()));
            assert!(matches!(err, Err(RenderError::PlanSchema(_))), "{c} passed");
        }
        assert!(check_plan_schema("{").is_err());
    }
}
