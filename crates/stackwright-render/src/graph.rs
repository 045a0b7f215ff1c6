//! The dependency graph for people: Graphviz (`graph.dot`) and Mermaid (`graph.mmd`),
//! components grouped by stage, an edge from each component to what it requires (labelled
//! with the capability when it was required through one).

use std::collections::BTreeSet;

use stackwright_solver::Why;

use crate::Platform;

const STAGES: [&str; 6] = [
    "kernel",
    "init",
    "onboot",
    "service",
    "onshutdown",
    "sandbox",
];

/// (from, to, label) edges, sorted.
fn edges(p: &Platform<'_>) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (id, c) in &p.resolution.components {
        for w in &c.why {
            match w {
                Why::Required { by, via, .. } => {
                    let label = if via == id {
                        String::new()
                    } else {
                        via.clone()
                    };
                    out.insert((by.clone(), id.clone(), label));
                }
                Why::Recommended { by, via, .. } => {
                    out.insert((by.clone(), id.clone(), format!("recommends {via}")));
                }
                _ => {}
            }
        }
    }
    out
}

fn stage_of(p: &Platform<'_>, id: &str) -> &'static str {
    p.registry
        .manifest(id)
        .map(|m| m.stage.as_str())
        .unwrap_or("service")
}

fn node_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Graphviz source.
pub fn graph_dot(p: &Platform<'_>) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];\n",
        p.loaded.name
    );
    for stage in STAGES {
        let ids: Vec<&String> = p
            .resolution
            .components
            .keys()
            .filter(|id| stage_of(p, id) == stage)
            .collect();
        if ids.is_empty() {
            continue;
        }
        s.push_str(&format!(
            "  subgraph cluster_{stage} {{\n    label=\"{stage}\";\n"
        ));
        for id in ids {
            let v = &p.resolution.components[id].version;
            s.push_str(&format!("    \"{id}\" [label=\"{id}\\n{v}\"];\n"));
        }
        s.push_str("  }\n");
    }
    for (id, v) in &p.resolution.external {
        s.push_str(&format!(
            "  \"{id}\" [label=\"{id}\\n{v}\\n(external)\", style=dashed];\n"
        ));
    }
    for (from, to, label) in edges(p) {
        if label.is_empty() {
            s.push_str(&format!("  \"{from}\" -> \"{to}\";\n"));
        } else {
            s.push_str(&format!("  \"{from}\" -> \"{to}\" [label=\"{label}\"];\n"));
        }
    }
    s.push_str("}\n");
    s
}

/// Mermaid source.
pub fn graph_mermaid(p: &Platform<'_>) -> String {
    let mut s = String::from("flowchart LR\n");
    for stage in STAGES {
        let ids: Vec<&String> = p
            .resolution
            .components
            .keys()
            .filter(|id| stage_of(p, id) == stage)
            .collect();
        if ids.is_empty() {
            continue;
        }
        s.push_str(&format!("  subgraph {stage}\n"));
        for id in ids {
            let v = &p.resolution.components[id].version;
            s.push_str(&format!("    {}[\"{id} {v}\"]\n", node_id(id)));
        }
        s.push_str("  end\n");
    }
    for (id, v) in &p.resolution.external {
        s.push_str(&format!("  {}([\"{id} {v} (external)\"])\n", node_id(id)));
    }
    for (from, to, label) in edges(p) {
        if label.is_empty() {
            s.push_str(&format!("  {} --> {}\n", node_id(&from), node_id(&to)));
        } else {
            s.push_str(&format!(
                "  {} -->|{label}| {}\n",
                node_id(&from),
                node_id(&to)
            ));
        }
    }
    s
}
