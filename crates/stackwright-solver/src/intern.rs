//! A small, fast, deterministic hasher for the solver's name table (FxHash). Maps built
//! with it are only ever looked up, never iterated, so no order leaks into output.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The first eight bytes of a text as a big-endian integer (zero-padded): where the keys
/// of two texts differ, they order the texts as the texts themselves do.
#[inline]
pub(crate) fn prefix_key(t: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = t.len().min(8);
    b[..n].copy_from_slice(&t.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// The order of two texts (byte order, as `str::cmp`), mostly without a `memcmp` call.
/// The search keeps each name's key (`NameData::key`) and compares the same way; the test
/// below checks that this is byte order.
#[cfg(test)]
pub(crate) fn cmp_text(a: &str, b: &str) -> std::cmp::Ordering {
    prefix_key(a).cmp(&prefix_key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::cmp_text;

    #[test]
    fn text_order_by_prefix_keys_is_byte_order() {
        let words = [
            "",
            "a",
            "a\0",
            "a\u{1}",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefgha",
            "b",
            "p10",
            "p2",
            "é",
        ];
        for x in words {
            for y in words {
                assert_eq!(cmp_text(x, y), x.cmp(y), "{x:?} vs {y:?}");
            }
        }
    }
}
