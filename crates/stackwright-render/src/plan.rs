//! `plan.json` and the summary table.

use serde_json::{json, Value};

use crate::Platform;

/// The whole resolved plan for other tools (SPEC §7): at least `assembly`, `arch`,
/// `components` (sorted by id, each with id, version, category, stage, image, reason) and
/// `order` (start levels).
pub fn plan_json(p: &Platform<'_>) -> String {
    let components: Vec<Value> = p
        .resolution
        .components
        .iter()
        .map(|(id, c)| {
            let m = p.registry.manifest(id);
            let image = p.image_ref(id);
            json!({
                "id": id,
                "version": c.version.to_string(),
                "category": m.map(|m| m.category.as_str()),
                "stage": m.map(|m| m.stage.as_str()),
                "image": image,
                "reason": p.reason(id),
                "reasons": c.why.iter().map(|w| w.summary()).collect::<Vec<_>>(),
                "privileged": m.map(|m| m.privileged),
                "verified": m.map(|m| m.verified),
            })
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
            "services": p.resolution.start.services,
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
    levels.extend(s.services.iter().cloned());
    levels.extend(s.onshutdown.iter().map(|i| vec![i.clone()]));
    levels
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
            vec![id.clone(), c.version.to_string(), stage.to_string(), why]
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
