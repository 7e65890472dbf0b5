//! Every hasher of the engine, each for one purpose:
//!
//! - [`FastHash`] ([`FxHasher`]) for the ruleset's constant sets and indexes (`in` lists, the
//!   prefilter, projection keys). The keys are the ruleset's own constants and the lookups happen
//!   per event, so SipHash's protection against chosen keys buys nothing there and costs most of a
//!   lookup. This is the multiply-rotate scheme of rustc's FxHash.
//! - [`KeyedHash`] (std's SipHash with a random key) for maps whose keys come from events, where
//!   someone could choose keys that collide on purpose: the member index of a document.
//! - [`Fnv1a64`] and [`Fnv1a128`] where a hash must be the same in every run and every build
//!   (std's `DefaultHasher` may change between Rust releases): rule fingerprints, which decide
//!   whether a reload keeps a rule's state, and alert ids, which are stored in Elasticsearch.
//!
//! - [`SipKey`] ([`siphash`]) for the deduplication keys of audit events ([`crate::decode`]): a
//!   SipHash-1-3 under a random key that is kept for the run and saved with the engine's state,
//!   so that a forged `Audit-ID` cannot make another request look like a copy.

pub mod siphash;

use std::hash::{BuildHasherDefault, Hasher};

pub use siphash::{SipHasher13, SipKey};

/// `HashMap<K, V, FastHash>` / `HashSet<K, FastHash>`.
pub type FastHash = BuildHasherDefault<FxHasher>;

/// `HashMap<K, V, KeyedHash>`: SipHash with a random key per map, for keys events choose.
pub type KeyedHash = std::hash::RandomState;

/// The multiply-rotate hasher of [`FastHash`]; not resistant to chosen keys.
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

/// FNV-1a, 64 bits (<http://www.isthe.com/chongo/tech/comp/fnv/>), as a [`Hasher`]: a hash that
/// stays the same across runs, builds and Rust releases. Not cryptographic.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Fnv1a64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(Self::OFFSET_BASIS)
    }
}

impl Hasher for Fnv1a64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
}

/// FNV-1a, 128 bits (<http://www.isthe.com/chongo/tech/comp/fnv/>): fixed, simple and well
/// spread; not cryptographic, which ids do not need.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a128(u128);

impl Fnv1a128 {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    /// A hash of nothing yet.
    pub fn new() -> Self {
        Fnv1a128(Self::OFFSET_BASIS)
    }

    /// Hashes `bytes` as they are.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u128::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// A length-prefixed field, so that consecutive fields cannot run into each other.
    pub fn field(&mut self, bytes: &[u8]) {
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }

    /// The hash of everything written so far.
    pub fn finish(&self) -> u128 {
        self.0
    }
}

impl Default for Fnv1a128 {
    fn default() -> Self {
        Fnv1a128::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash64 = |s: &str| {
            let mut h = Fnv1a64::default();
            h.write(s.as_bytes());
            format!("{:016x}", h.finish())
        };
        assert_eq!(hash64(""), "cbf29ce484222325");
        assert_eq!(hash64("a"), "af63dc4c8601ec8c");
        assert_eq!(hash64("foobar"), "85944171f73967e8");
        let hash128 = |s: &str| {
            let mut h = Fnv1a128::new();
            h.bytes(s.as_bytes());
            format!("{:032x}", h.finish())
        };
        assert_eq!(hash128(""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(hash128("a"), "d228cb696f1a8caf78912b704e4a8964");
        assert_eq!(hash128("foobar"), "343e1662793c64bf6f0d3597ba446f18");
    }

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
