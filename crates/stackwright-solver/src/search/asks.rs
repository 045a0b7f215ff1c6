//! What the request asks for, as the search sees it, and the check of every name it uses.

use semver::Version;
use stackwright_types::suggest::did_you_mean;
use stackwright_types::Location;

use crate::provider::{Provider, Range};
use crate::refusal::{Refusal, Section, UnknownName};

use super::Solver;

#[derive(Clone, Debug)]
pub(crate) enum AskKind<'a> {
    Component,
    Capability,
    /// A capability the platform needs to boot and nothing named (`Request::bootable`).
    Bootable,
    External,
    Recommended {
        by: &'a str,
        by_version: Version,
    },
}

/// One thing the request (or an accepted recommendation) asks for.
#[derive(Clone, Debug)]
pub(crate) struct AskData<'a> {
    pub kind: AskKind<'a>,
    pub name: &'a str,
    pub range: Range<'a>,
    pub location: Option<&'a Location>,
}

impl<'a, P: Provider + ?Sized> Solver<'a, P> {
    /// Checks every name the request uses (loading what it names, as the search would).
    pub(crate) fn check_names(&mut self) -> Result<(), Refusal> {
        let req = self.req;
        let mut items: Vec<(&'a str, Section, Option<&'a Location>)> = Vec::new();
        items.extend(
            req.components
                .iter()
                .map(|(n, a)| (n.as_str(), Section::Components, a.location.as_ref())),
        );
        items.extend(
            req.capabilities
                .iter()
                .map(|(n, a)| (n.as_str(), Section::Capabilities, a.location.as_ref())),
        );
        items.extend(
            req.bootable
                .iter()
                .map(|n| (n.as_str(), Section::Capabilities, None)),
        );
        for (n, v) in &req.prefer {
            items.push((n.as_str(), Section::PreferKey, v.location.as_ref()));
            items.push((v.value.as_str(), Section::PreferValue, v.location.as_ref()));
        }
        items.extend(
            req.external
                .iter()
                .map(|(n, v)| (n.as_str(), Section::External, v.location.as_ref())),
        );
        items.extend(
            req.exclude
                .iter()
                .map(|(n, l)| (n.as_str(), Section::Exclude, l.as_ref())),
        );
        let mut unknown = Vec::new();
        let mut ids: Option<Vec<&str>> = None;
        let mut caps: Option<Vec<&str>> = None;
        for (name, section, location) in items {
            let n = self.intern(name);
            let want_cap = section.wants_capability();
            let is_cap = |s: &mut Self| s.cap(n).is_some();
            let is_comp = |s: &mut Self| {
                s.load(n);
                s.names[n as usize].exists
            };
            if (want_cap && is_cap(self)) || (!want_cap && is_comp(self)) {
                continue;
            }
            let other_kind = if want_cap {
                is_comp(self)
            } else {
                is_cap(self)
            };
            let p = self.p;
            let pool = if want_cap {
                caps.get_or_insert_with(|| p.capability_names())
            } else {
                ids.get_or_insert_with(|| p.component_ids())
            };
            unknown.push(UnknownName {
                name: name.to_string(),
                section,
                location: location.cloned(),
                suggestion: did_you_mean(name, pool.iter().copied()).map(str::to_string),
                other_kind,
            });
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Unknown(unknown))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::refusal::{Refusal, Section};
    use crate::request::{Ask, Request};
    use crate::search::Solver;
    use crate::testing::Tiny;

    #[test]
    fn names_the_request_uses_are_checked_on_their_own_side() {
        let p = Tiny::default().cap("cri", false, None).comp(
            "containerd",
            &["2.0.0"],
            &["provides cri 1.0.0"],
        );
        let mut req = Request::new();
        req.components.insert("containerd".into(), Ask::any());
        req.components.insert("cri".into(), Ask::any());
        req.components.insert("zzz".into(), Ask::any());
        let mut s = Solver::new(&p, &req, &[]);
        let Err(Refusal::Unknown(list)) = s.check_names() else {
            panic!("two names are wrong")
        };
        let got: Vec<(&str, bool)> = list
            .iter()
            .map(|u| (u.name.as_str(), u.other_kind))
            .collect();
        assert_eq!(got, [("cri", true), ("zzz", false)]);
        assert!(list.iter().all(|u| u.section == Section::Components));
        let mut ok = Request::new();
        ok.capabilities.insert("cri".into(), Ask::any());
        assert!(Solver::new(&p, &ok, &[]).check_names().is_ok());
    }
}
