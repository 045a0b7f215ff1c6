//! Variables and literals: one boolean per release, a literal is a variable with a sign
//! in its low bit; and the packed version key used for fast range scans.

use semver::Version;

pub(crate) type Var = u32;
pub(crate) type Lit = u32;
pub(crate) const NONE: u32 = u32::MAX;

#[inline]
pub(crate) fn vkey(v: &Version) -> u64 {
    const LIM: u64 = 1 << 21;
    if v.pre.is_empty() && v.build.is_empty() && v.major < LIM && v.minor < LIM && v.patch < LIM {
        (v.major << 42) | (v.minor << 21) | v.patch
    } else {
        u64::MAX
    }
}

/// `vkey` of a version known to pack (every release of a `plain` name): no checks.
#[inline]
pub(crate) fn plain_vkey(v: &Version) -> u64 {
    debug_assert_ne!(vkey(v), u64::MAX);
    (v.major << 42) | (v.minor << 21) | v.patch
}

#[inline]
pub(crate) fn pos(v: Var) -> Lit {
    v << 1
}
#[inline]
pub(crate) fn neg(v: Var) -> Lit {
    (v << 1) | 1
}
#[inline]
pub(crate) fn var(l: Lit) -> Var {
    l >> 1
}
#[inline]
pub(crate) fn is_neg(l: Lit) -> bool {
    l & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::v;

    #[test]
    fn literals_carry_their_variable_and_sign() {
        for x in [0, 1, 7, 1 << 20] {
            assert_eq!(var(pos(x)), x);
            assert_eq!(var(neg(x)), x);
            assert!(!is_neg(pos(x)) && is_neg(neg(x)));
            assert_eq!(pos(x) ^ 1, neg(x), "negation is the low bit");
        }
    }

    #[test]
    fn version_keys_order_like_versions() {
        let vs = [
            "0.0.1", "0.1.0", "0.1.2", "1.0.0", "1.2.3", "1.10.0", "2.0.0",
        ];
        let keys: Vec<u64> = vs.iter().map(|s| vkey(&v(s))).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert_eq!(
            vkey(&v("1.0.0-rc.1")),
            u64::MAX,
            "pre-releases are not packed"
        );
        assert_eq!(
            vkey(&v("1.0.0+b1")),
            u64::MAX,
            "build metadata is not packed"
        );
    }
}
