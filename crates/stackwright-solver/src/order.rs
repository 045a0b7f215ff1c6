//! The start order of a resolution (SPEC §4): kernel; init in dependency order; onboot in
//! dependency order, one after another; services in dependency levels; onshutdown in
//! reverse dependency order. Only edges between components of one stage order them.

use std::collections::{BTreeMap, BTreeSet};

use stackwright_types::manifest::Stage;

use crate::refusal::Refusal;
use crate::resolution::{Chosen, StartOrder};

/// `deps[a]` = the chosen components `a` requires (directly, by id or capability).
pub(crate) fn start_order(
    components: &BTreeMap<String, Chosen>,
    deps: &BTreeMap<String, BTreeSet<String>>,
) -> Result<StartOrder, Refusal> {
    let mut by_stage: BTreeMap<Stage, BTreeSet<&str>> = BTreeMap::new();
    for (id, c) in components {
        if let Some(s) = c.stage {
            by_stage.entry(s).or_default().insert(id);
        }
    }
    let members = |s: Stage| by_stage.get(&s).cloned().unwrap_or_default();
    let stage_deps = |set: &BTreeSet<&str>| -> BTreeMap<String, BTreeSet<String>> {
        set.iter()
            .map(|a| {
                let ds = deps
                    .get(*a)
                    .map(|d| {
                        d.iter()
                            .filter(|b| set.contains(b.as_str()) && b.as_str() != *a)
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                (a.to_string(), ds)
            })
            .collect()
    };
    let mut out = StartOrder {
        kernel: members(Stage::Kernel)
            .into_iter()
            .map(str::to_string)
            .collect(),
        ..Default::default()
    };
    // Init images are unpacked together; a loop there (init ↔ its runc) is normal, so it
    // is broken at the smallest name rather than refused.
    out.init = levels(&stage_deps(&members(Stage::Init)), true)
        .map_err(|_| ())
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    out.onboot = levels(&stage_deps(&members(Stage::Onboot)), false)
        .map_err(|path| Refusal::Cycle {
            stage: Stage::Onboot,
            path,
        })?
        .into_iter()
        .flatten()
        .collect();
    out.services =
        levels(&stage_deps(&members(Stage::Service)), false).map_err(|path| Refusal::Cycle {
            stage: Stage::Service,
            path,
        })?;
    let mut down: Vec<String> = levels(&stage_deps(&members(Stage::Onshutdown)), true)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    down.reverse();
    out.onshutdown = down;
    Ok(out)
}

/// Kahn's algorithm by levels; names sorted inside each level. On a cycle: with `tolerate`,
/// releases the smallest remaining name and goes on; otherwise returns the cycle.
fn levels(
    deps: &BTreeMap<String, BTreeSet<String>>,
    tolerate: bool,
) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    while done.len() < deps.len() {
        let ready: Vec<&str> = deps
            .iter()
            .filter(|(a, ds)| {
                !done.contains(a.as_str()) && ds.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(a, _)| a.as_str())
            .collect();
        if ready.is_empty() {
            if !tolerate {
                return Err(find_cycle(deps, &done));
            }
            let first = deps
                .keys()
                .find(|a| !done.contains(a.as_str()))
                .expect("some name remains")
                .as_str();
            done.insert(first);
            out.push(vec![first.to_string()]);
            continue;
        }
        for r in &ready {
            done.insert(r);
        }
        out.push(ready.into_iter().map(str::to_string).collect());
    }
    Ok(out)
}

/// A cycle among the names not yet placed: walk from the smallest, always to the smallest
/// unplaced dependency, until a name repeats.
fn find_cycle(deps: &BTreeMap<String, BTreeSet<String>>, done: &BTreeSet<&str>) -> Vec<String> {
    let start = deps
        .keys()
        .find(|a| !done.contains(a.as_str()))
        .expect("a cycle exists")
        .clone();
    let mut path: Vec<String> = vec![start];
    loop {
        let last = path.last().expect("non-empty").clone();
        let next = deps[&last]
            .iter()
            .find(|d| !done.contains(d.as_str()))
            .expect("an unplaced name has an unplaced dependency")
            .clone();
        if let Some(i) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[i..].to_vec();
            // Start the loop at its smallest name, so the message is stable.
            let m = cycle
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            cycle.rotate_left(m);
            let first = cycle[0].clone();
            cycle.push(first);
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        pairs
            .iter()
            .map(|(a, ds)| (a.to_string(), ds.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn levels_group_independent_services() {
        let g = d(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
        assert_eq!(
            levels(&g, false).unwrap(),
            vec![
                vec!["a".to_string()],
                vec!["b".into(), "c".into()],
                vec!["d".into()]
            ]
        );
    }

    #[test]
    fn cycle_is_named_from_its_smallest_member() {
        let g = d(&[("x", &[]), ("b", &["c"]), ("c", &["b", "x"])]);
        assert_eq!(levels(&g, false).unwrap_err(), vec!["b", "c", "b"]);
    }

    #[test]
    fn tolerated_cycle_still_orders_everything() {
        let g = d(&[("a", &["b"]), ("b", &["a"]), ("c", &["a"])]);
        let flat: Vec<String> = levels(&g, true).unwrap().into_iter().flatten().collect();
        assert_eq!(flat, vec!["a", "b", "c"]);
    }
}
