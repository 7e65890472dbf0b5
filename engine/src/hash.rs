//! A fast hasher for the engine's constant sets and indexes (`in` lists, the prefilter).
//!
//! The keys are the ruleset's own constants and the lookups happen per event, so SipHash's
//! protection against chosen keys buys nothing here and costs most of a lookup. This is the
//! multiply-rotate scheme of rustc's FxHash.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap<K, V, FastHash>` / `HashSet<K, FastHash>`.
pub type FastHash = BuildHasherDefault<FxHasher>;

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sets_with_the_fast_hasher_find_what_they_hold() {
        let set: HashSet<Box<str>, FastHash> =
            ["get", "list", "watch", "a-much-longer-key-than-eight-bytes"]
                .into_iter()
                .map(Into::into)
                .collect();
        assert!(set.contains("list"));
        assert!(set.contains("a-much-longer-key-than-eight-bytes"));
        assert!(!set.contains("lis"));
        assert!(!set.contains("a-much-longer-key-than-eight-byte"));
    }
}
