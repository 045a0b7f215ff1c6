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
    // Each stage's members, sorted by name (`components` is).
    let mut by_stage: BTreeMap<Stage, Vec<&str>> = BTreeMap::new();
    for (id, c) in components {
        if let Some(s) = c.stage {
            by_stage.entry(s).or_default().push(id);
        }
    }
    let graph = |s: Stage| Graph::of(by_stage.get(&s).map_or(&[][..], Vec::as_slice), deps);
    let owned = |names: Vec<&str>| names.into_iter().map(str::to_string).collect::<Vec<_>>();
    let flat = |levels: Vec<Vec<&str>>| owned(levels.into_iter().flatten().collect());
    let mut out = StartOrder {
        kernel: owned(graph(Stage::Kernel).names),
        ..Default::default()
    };
    // Init images are unpacked together; a loop there (init ↔ its runc) is normal, so it
    // is broken at the smallest name rather than refused.
    out.init = flat(graph(Stage::Init).levels(true).unwrap_or_default());
    out.onboot = flat(
        graph(Stage::Onboot)
            .levels(false)
            .map_err(|path| Refusal::Cycle {
                stage: Stage::Onboot,
                path,
            })?,
    );
    out.services = graph(Stage::Service)
        .levels(false)
        .map_err(|path| Refusal::Cycle {
            stage: Stage::Service,
            path,
        })?
        .into_iter()
        .map(owned)
        .collect();
    let mut down = flat(graph(Stage::Onshutdown).levels(true).unwrap_or_default());
    down.reverse();
    out.onshutdown = down;
    Ok(out)
}

/// The components of one stage (sorted by name) and, for each, the positions of the
/// others of that stage it requires (ascending, so by name too).
struct Graph<'s> {
    names: Vec<&'s str>,
    deps: Vec<Vec<usize>>,
}

impl<'s> Graph<'s> {
    fn of(names: &[&'s str], deps: &'s BTreeMap<String, BTreeSet<String>>) -> Self {
        let at = |b: &str| names.binary_search(&b).ok();
        let deps = names
            .iter()
            .enumerate()
            .map(|(i, a)| {
                deps.get(*a)
                    .into_iter()
                    .flatten()
                    .filter_map(|b| at(b))
                    .filter(|&j| j != i)
                    .collect()
            })
            .collect();
        Graph {
            names: names.to_vec(),
            deps,
        }
    }

    /// Kahn's algorithm by levels; names sorted inside each level. On a cycle: with
    /// `tolerate`, releases the smallest remaining name and goes on; otherwise returns the
    /// cycle.
    fn levels(&self, tolerate: bool) -> Result<Vec<Vec<&'s str>>, Vec<String>> {
        let n = self.names.len();
        let mut done = vec![false; n];
        let mut placed = 0;
        let mut out: Vec<Vec<&'s str>> = Vec::new();
        while placed < n {
            let ready: Vec<usize> = (0..n)
                .filter(|&a| !done[a] && self.deps[a].iter().all(|&d| done[d]))
                .collect();
            if ready.is_empty() {
                if !tolerate {
                    return Err(self.find_cycle(&done));
                }
                let first = (0..n).find(|&a| !done[a]).expect("some name remains");
                done[first] = true;
                placed += 1;
                out.push(vec![self.names[first]]);
                continue;
            }
            for &r in &ready {
                done[r] = true;
            }
            placed += ready.len();
            out.push(ready.into_iter().map(|r| self.names[r]).collect());
        }
        Ok(out)
    }

    /// A cycle among the names not yet placed: walk from the smallest, always to the
    /// smallest unplaced dependency, until a name repeats.
    fn find_cycle(&self, done: &[bool]) -> Vec<String> {
        let start = (0..self.names.len())
            .find(|&a| !done[a])
            .expect("a cycle exists");
        let mut path: Vec<usize> = vec![start];
        loop {
            let last = *path.last().expect("non-empty");
            let next = *self.deps[last]
                .iter()
                .find(|&&d| !done[d])
                .expect("an unplaced name has an unplaced dependency");
            if let Some(i) = path.iter().position(|&p| p == next) {
                let mut cycle: Vec<usize> = path[i..].to_vec();
                // Start the loop at its smallest name (positions follow the names), so the
                // message is stable.
                let m = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &p)| p)
                    .map_or(0, |(i, _)| i);
                cycle.rotate_left(m);
                cycle.push(cycle[0]);
                return cycle
                    .into_iter()
                    .map(|p| self.names[p].to_string())
                    .collect();
            }
            path.push(next);
        }
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

    /// Every name of `deps` as one stage.
    fn levels(
        deps: &BTreeMap<String, BTreeSet<String>>,
        tolerate: bool,
    ) -> Result<Vec<Vec<String>>, Vec<String>> {
        let names: Vec<&str> = deps.keys().map(String::as_str).collect();
        Graph::of(&names, deps).levels(tolerate).map(|ls| {
            ls.into_iter()
                .map(|l| l.into_iter().map(str::to_string).collect())
                .collect()
        })
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
