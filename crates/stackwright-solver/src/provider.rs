//! How the solver reaches components: the [`Provider`] trait.
//!
//! The trait is deliberately low level (in the manner of pubgrub's `DependencyProvider`):
//! the solver asks for a component's release list once, and for one release's edges only
//! when that release may be chosen. Names and ranges are borrowed from the provider, so
//! an index of hundreds of thousands of releases can answer without building
//! [`Manifest`](stackwright_types::manifest::Manifest)s or allocating strings, and the
//! solver never touches the releases a resolution does not reach.

use std::borrow::Cow;

use semver::{Version, VersionReq};
use stackwright_types::manifest::{Arch, DepKind, KernelOption, Stage};
use stackwright_types::Location;

/// A component as the solver sees it before looking at any release in detail.
#[derive(Clone, Debug, Default)]
pub struct ComponentHead<'p> {
    /// Every release, in any order. The index of a release in this list is how
    /// [`Provider::release`] is asked about it. A provider that keeps such a list may lend
    /// it (`Cow::Borrowed`: nothing is allocated per component asked for).
    pub releases: Cow<'p, [ReleaseHead<'p>]>,
    /// Where it goes in LinuxKit's YAML; `None` for pure version problems (it is then
    /// left out of the start order).
    pub stage: Option<Stage>,
    /// Whether it runs privileged (SPEC §4 rule 7 checks it against the policy).
    pub privileged: bool,
    /// Where the component is defined, for explanations.
    pub location: Option<&'p Location>,
}

/// What the solver needs of a release before loading its edges.
#[derive(Clone, Debug)]
pub struct ReleaseHead<'p> {
    /// Borrowed from the provider: the solver keeps the reference, never a copy.
    pub version: &'p Version,
    /// The architectures it runs on; `None` means every one.
    pub arch: Option<&'p [Arch]>,
}

impl<'p> ReleaseHead<'p> {
    pub fn new(version: &'p Version) -> Self {
        Self {
            version,
            arch: None,
        }
    }
}

/// A set of versions, as edges and requests name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range<'p> {
    /// Every version.
    Any,
    /// A semver requirement, matched with [`stackwright_types::version::matches`].
    Req(&'p VersionReq),
    /// `min <= v < below` (either bound may be absent). A caret `^1.2.0` is
    /// `Between { min: 1.2.0, below: 2.0.0 }`. Both bounds are borrowed, so a compact
    /// provider answers from a table of versions it owns, without building any.
    Between {
        min: Option<&'p Version>,
        below: Option<&'p Version>,
    },
}

impl<'p> Range<'p> {
    /// The range as `Any` or `Between` when it is one of those or means one (`*`, which
    /// [`stackwright_types::version::matches`] takes to match every version, pre-releases
    /// included); `None` for other requirements.
    #[inline]
    pub(crate) fn as_window(&self) -> Option<&Range<'p>> {
        static ANY: Range<'static> = Range::Any;
        match self {
            Range::Req(r) if r.comparators.is_empty() => Some(&ANY),
            Range::Req(_) => None,
            other => Some(other),
        }
    }

    /// Whether `v` is in the range.
    pub fn contains(&self, v: &Version) -> bool {
        match self {
            Range::Any => true,
            Range::Req(r) => stackwright_types::version::matches(r, v),
            Range::Between { min, below } => {
                min.is_none_or(|m| v >= m) && below.is_none_or(|b| v < b)
            }
        }
    }

    /// The range as a person would write it (`*`, `^1.7`, `>=1.0.0, <2.0.0`).
    pub fn to_text(&self) -> String {
        match self {
            Range::Any => "*".to_string(),
            Range::Req(r) => r.to_string(),
            Range::Between { min, below } => {
                let mut out = String::with_capacity(24);
                match (min, below) {
                    (None, None) => out.push('*'),
                    (Some(m), None) => {
                        out.push_str(">=");
                        push_version(&mut out, m);
                    }
                    (None, Some(b)) => {
                        out.push('<');
                        push_version(&mut out, b);
                    }
                    (Some(m), Some(b)) => {
                        let plain = m.pre.is_empty()
                            && m.build.is_empty()
                            && b.pre.is_empty()
                            && b.build.is_empty();
                        let caret_end = if m.major > 0 {
                            (m.major + 1, 0, 0)
                        } else if m.minor > 0 {
                            (0, m.minor + 1, 0)
                        } else {
                            (0, 0, m.patch + 1)
                        };
                        if plain && (b.major, b.minor, b.patch) == caret_end {
                            out.push('^');
                            push_version(&mut out, m);
                        } else {
                            out.push_str(">=");
                            push_version(&mut out, m);
                            out.push_str(", <");
                            push_version(&mut out, b);
                        }
                    }
                }
                out
            }
        }
    }
}

/// Appends a version without going through `fmt` (which is slow for something written
/// once per chosen component).
fn push_version(out: &mut String, v: &Version) {
    fn num(out: &mut String, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.push_str(std::str::from_utf8(&buf[i..]).expect("ascii digits"));
    }
    num(out, v.major);
    out.push('.');
    num(out, v.minor);
    out.push('.');
    num(out, v.patch);
    if !v.pre.is_empty() {
        out.push('-');
        out.push_str(v.pre.as_str());
    }
    if !v.build.is_empty() {
        out.push('+');
        out.push_str(v.build.as_str());
    }
}

/// One edge of a release: `requires`, `constrains`, `conflicts` or `recommends`, on a
/// component id or a capability.
#[derive(Clone, Debug)]
pub struct Edge<'p> {
    pub kind: DepKind,
    pub name: &'p str,
    pub range: Range<'p>,
    /// Where the edge is written, for explanations.
    pub location: Option<&'p Location>,
}

/// Everything about one release beyond its version. The solver clears it before each
/// [`Provider::release`] call and reuses its buffers.
#[derive(Clone, Debug, Default)]
pub struct ReleaseDetails<'p> {
    pub edges: Vec<Edge<'p>>,
    /// Capability (or other name) → the version provided. The component's own id is
    /// implied and need not be listed.
    pub provides: Vec<(&'p str, &'p Version)>,
    /// `kernel.min`: the least kernel version it runs on.
    pub kernel_min: Option<&'p Version>,
    /// `kernel.config`: options the chosen kernel must have.
    pub kernel_needs: &'p [KernelOption],
    /// For kernels: the options they are built with.
    pub kernel_config: &'p [KernelOption],
    /// Where the release is written (its `version` line).
    pub location: Option<&'p Location>,
}

impl ReleaseDetails<'_> {
    pub fn clear(&mut self) {
        self.edges.clear();
        self.provides.clear();
        self.kernel_min = None;
        self.kernel_needs = &[];
        self.kernel_config = &[];
        self.location = None;
    }
}

/// A declared capability.
#[derive(Clone, Debug)]
pub struct CapabilityInfo<'p> {
    /// `cardinality = "one"`: at most one provider may be chosen.
    pub one: bool,
    /// The customary provider (a component id).
    pub default: Option<&'p str>,
    pub location: Option<&'p Location>,
}

/// Access to the components and capabilities a resolution may use.
///
/// Implementations must answer the same way every time for one name (the solver caches
/// answers). Nothing here may fail: an unknown name is `None` / empty.
pub trait Provider {
    /// The component with this id, or `None` when no component has it.
    fn component(&self, id: &str) -> Option<ComponentHead<'_>>;

    /// Fills `out` with release `index` (its position in [`ComponentHead::releases`]) of
    /// component `id`. `out` arrives cleared.
    fn release<'p>(&'p self, id: &str, index: usize, out: &mut ReleaseDetails<'p>);

    /// The declared capability with this name, or `None`.
    fn capability(&self, _name: &str) -> Option<CapabilityInfo<'_>> {
        None
    }

    /// Every component any of whose releases provides `name` (a capability, or another
    /// component's id), in any order. The component named `name` itself need not be listed.
    fn providers(&self, _name: &str) -> Vec<&str> {
        Vec::new()
    }

    /// Every component id, for "did you mean" suggestions (only asked when a name is
    /// unknown).
    fn component_ids(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Every capability name, for suggestions.
    fn capability_names(&self) -> Vec<&str> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_print_as_people_write_them() {
        let v = |s: &str| Version::parse(s).unwrap();
        let caret = |a: &str, b: &str| {
            Range::Between {
                min: Some(&v(a)),
                below: Some(&v(b)),
            }
            .to_text()
        };
        assert_eq!(caret("1.2.0", "2.0.0"), "^1.2.0");
        assert_eq!(caret("0.3.1", "0.4.0"), "^0.3.1");
        let (lo, hi) = (v("1.0.0"), v("1.5.0"));
        let b = Range::Between {
            min: Some(&lo),
            below: Some(&hi),
        };
        assert_eq!(b.to_text(), ">=1.0.0, <1.5.0");
        assert!(b.contains(&v("1.4.9")) && !b.contains(&v("1.5.0")));
        let rt = v("6.6.0-rt.1+b7");
        let pre = Range::Between {
            min: Some(&rt),
            below: None,
        };
        assert_eq!(pre.to_text(), ">=6.6.0-rt.1+b7");
        assert_eq!(Range::Any.to_text(), "*");
    }

    #[test]
    fn a_star_requirement_is_the_whole_window() {
        let star = VersionReq::STAR;
        assert_eq!(Range::Req(&star).as_window(), Some(&Range::Any));
        // `*` takes pre-releases too, so treating it as `Any` changes no answer.
        let rc = Version::parse("1.0.0-rc.1").unwrap();
        assert!(Range::Req(&star).contains(&rc));
        let caret = VersionReq::parse("^1.2").unwrap();
        assert_eq!(Range::Req(&caret).as_window(), None);
        assert_eq!(Range::Any.as_window(), Some(&Range::Any));
    }
}
