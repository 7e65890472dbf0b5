//! SipHash (<https://www.aumasson.jp/siphash/siphash.pdf>) with a key that can be saved, for the
//! deduplication keys (`decode::dedup_key`).
//!
//! std's `RandomState` is the same SipHash-1-3 keyed at random, but its key cannot be read or
//! set, and a restored deduplication window must go on hashing with the key its entries were made
//! with. [`SipKey::random`] draws the key from a fresh `RandomState` (the operating system's
//! randomness), so a fresh start is as unpredictable as before.

use std::hash::{BuildHasher, Hasher};

/// A 128-bit SipHash key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SipKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for SipKey {
    /// Never shows the key: it is what keeps deduplication keys unforgeable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SipKey(..)")
    }
}

impl SipKey {
    /// A key from its two halves, as [`SipKey::parts`] gave them (a key restored from a
    /// checkpoint).
    pub fn new(k0: u64, k1: u64) -> SipKey {
        SipKey { k0, k1 }
    }

    /// A key nobody can predict: two outputs of a `RandomState` hasher, whose own key comes from
    /// the operating system (SipHash's output under a secret key is pseudorandom).
    pub fn random() -> SipKey {
        let state = std::hash::RandomState::new();
        SipKey {
            k0: state.hash_one(0x6b38_7363_6f70_6b30_u64),
            k1: state.hash_one(0x6b38_7363_6f70_6b31_u64),
        }
    }

    /// The two halves of the key.
    pub fn parts(&self) -> (u64, u64) {
        (self.k0, self.k1)
    }

    /// A SipHash-1-3 hasher with this key (the variant std's hash maps use).
    pub fn hasher(&self) -> SipHasher13 {
        Sip::new(self.k0, self.k1)
    }
}

/// SipHash-1-3: one compression round per 8-byte block, three finalization rounds.
pub type SipHasher13 = Sip<1, 3>;

/// SipHash-C-D, streaming: input may arrive in pieces of any length.
#[derive(Clone, Debug)]
pub struct Sip<const C: usize, const D: usize> {
    v: [u64; 4],
    /// Bytes not yet compressed (fewer than 8), little-endian in the low bytes.
    tail: u64,
    ntail: usize,
    length: usize,
}

impl<const C: usize, const D: usize> Sip<C, D> {
    /// A hasher keyed with the two halves of a 128-bit key.
    pub fn new(k0: u64, k1: u64) -> Self {
        Sip {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline]
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    }

    #[inline]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..C {
            self.round();
        }
        self.v[0] ^= m;
    }
}

/// Up to 7 bytes as a little-endian number, in at most three loads (as std's SipHash does: a
/// variable-length copy costs more than the rest of the hash).
#[inline]
fn load_le(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() < 8);
    let mut out = 0u64;
    let mut i = 0;
    if let Some(four) = bytes.get(..4) {
        out = u64::from(u32::from_le_bytes([four[0], four[1], four[2], four[3]]));
        i = 4;
    }
    if let Some(two) = bytes.get(i..i + 2) {
        out |= u64::from(u16::from_le_bytes([two[0], two[1]])) << (8 * i);
        i += 2;
    }
    if let Some(&one) = bytes.get(i) {
        out |= u64::from(one) << (8 * i);
    }
    out
}

impl<const C: usize, const D: usize> Sip<C, D> {
    /// [`Hasher::write`] of the eight little-endian bytes of `n`: a length prefix, without going
    /// through a byte slice.
    #[inline]
    pub fn write_le_u64(&mut self, n: u64) {
        self.length = self.length.wrapping_add(8);
        self.push_word(n);
    }

    /// Adds eight bytes (`word`, little-endian) to the stream after the `ntail` bytes pending:
    /// the block they complete is compressed and the word's last `ntail` bytes are pending.
    #[inline]
    fn push_word(&mut self, word: u64) {
        if self.ntail == 0 {
            self.compress(word);
        } else {
            let shift = 8 * self.ntail as u32;
            let m = self.tail | word << shift;
            self.compress(m);
            self.tail = word >> (64 - shift);
        }
    }
}

impl<const C: usize, const D: usize> Hasher for Sip<C, D> {
    /// Whole words of `bytes` are shifted into place after the bytes pending from the previous
    /// write (none when the stream is at a block boundary), so a write costs the same wherever
    /// the stream stands: the deduplication key hashes several short pieces of odd lengths.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len());
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word: &[u8; 8] = word.try_into().expect("chunks of 8 bytes");
            self.push_word(u64::from_le_bytes(*word));
        }
        let rest = words.remainder();
        if rest.is_empty() {
            return;
        }
        // Fewer than eight bytes: they complete a block or stay pending.
        let part = load_le(rest);
        let shift = 8 * self.ntail as u32;
        let pending = self.ntail + rest.len();
        if pending < 8 {
            self.tail |= part << shift;
            self.ntail = pending;
        } else {
            let m = self.tail | part << shift;
            self.compress(m);
            // `shift` is not 0 here: with nothing pending, fewer than eight bytes stay pending.
            self.tail = part >> (64 - shift);
            self.ntail = pending - 8;
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write(&(n as u64).to_le_bytes());
    }

    fn finish(&self) -> u64 {
        let mut state = self.clone();
        let m = ((self.length as u64 & 0xff) << 56) | self.tail;
        state.compress(m);
        state.v[2] ^= 0xff;
        for _ in 0..D {
            state.round();
        }
        let [v0, v1, v2, v3] = state.v;
        v0 ^ v1 ^ v2 ^ v3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash<const C: usize, const D: usize>(k0: u64, k1: u64, pieces: &[&[u8]]) -> u64 {
        let mut h = Sip::<C, D>::new(k0, k1);
        for piece in pieces {
            h.write(piece);
        }
        h.finish()
    }

    /// The reference key 00 01 .. 0f, as SipHash's paper and reference code use it.
    const K0: u64 = 0x0706_0504_0302_0100;
    const K1: u64 = 0x0f0e_0d0c_0b0a_0908;

    #[test]
    fn siphash_2_4_matches_the_reference_vectors() {
        // From the reference implementation (github.com/veorq/SipHash, vectors.h): the message
        // 00 01 .. (n-1) under the reference key, for n = 0, 1, 7, 8, 15 and 63.
        let message: Vec<u8> = (0..64).collect();
        for (n, expected) in [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (7, 0xab02_00f5_8b01_d137),
            (8, 0x93f5_f579_9a93_2462),
            (15, 0xa129_ca61_49be_45e5),
            (63, 0x958a_324c_eb06_4572),
        ] {
            assert_eq!(hash::<2, 4>(K0, K1, &[&message[..n]]), expected, "n = {n}");
        }
    }

    #[test]
    fn siphash_1_3_matches_the_reference_vectors() {
        // SipHash-1-3 of the empty message under the zero key (reference implementation built
        // with cROUNDS=1, dROUNDS=3; also in OCaml's and digest's test suites).
        assert_eq!(hash::<1, 3>(0, 0, &[]), 0xd1fb_a762_150c_532c);
    }

    #[test]
    #[allow(deprecated)]
    fn streaming_in_pieces_gives_the_one_shot_hash_and_agrees_with_std() {
        // std's deprecated `SipHasher` is SipHash-2-4 with an explicit key: the same algorithm
        // as `Sip<2, 4>`, which differs from `Sip<1, 3>` only in the round counts.
        let message: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in [0, 1, 7, 8, 9, 16, 17, 100, 200] {
            let whole = hash::<2, 4>(K0, K1, &[&message[..n]]);
            let mut std_hasher = std::hash::SipHasher::new_with_keys(K0, K1);
            std_hasher.write(&message[..n]);
            assert_eq!(whole, std_hasher.finish(), "n = {n}");
            for cut in [0, 1, 3, 8, 13] {
                let cut = cut.min(n);
                let (a, b) = message[..n].split_at(cut);
                let (b, c) = b.split_at(b.len() / 2);
                assert_eq!(
                    hash::<2, 4>(K0, K1, &[a, b, c]),
                    whole,
                    "n = {n}, cut {cut}"
                );
                assert_eq!(
                    hash::<1, 3>(K0, K1, &[a, b, c]),
                    hash::<1, 3>(K0, K1, &[&message[..n]]),
                    "n = {n}, cut {cut}"
                );
            }
        }
    }

    #[test]
    fn words_and_pieces_of_every_length_give_the_one_shot_hash() {
        // A length prefix after pieces of every odd length: each place the stream can stand at
        // when a word or a short piece is shifted in.
        let message: Vec<u8> = (0..64u32).map(|i| (i * 53 % 251) as u8).collect();
        for first in 0..=17 {
            for second in 0..=9 {
                let (a, rest) = message.split_at(first);
                let b = &rest[..second];
                let n = 0x0123_4567_89ab_cdef_u64 ^ (first * 31 + second) as u64;
                let mut pieces = Sip::<1, 3>::new(K0, K1);
                pieces.write(a);
                pieces.write_le_u64(n);
                pieces.write(b);
                let mut whole = a.to_vec();
                whole.extend_from_slice(&n.to_le_bytes());
                whole.extend_from_slice(b);
                assert_eq!(
                    pieces.finish(),
                    hash::<1, 3>(K0, K1, &[&whole]),
                    "{first} bytes, a word, {second} bytes"
                );
            }
        }
    }

    #[test]
    fn random_keys_differ_and_the_key_decides_the_hash() {
        let (a, b) = (SipKey::random(), SipKey::random());
        assert_ne!(a, b);
        let hash = |key: SipKey| {
            let mut h = key.hasher();
            h.write(b"auditID");
            h.finish()
        };
        assert_ne!(hash(a), hash(b));
        assert_eq!(hash(a), hash(SipKey::new(a.parts().0, a.parts().1)));
        assert_eq!(format!("{a:?}"), "SipKey(..)");
    }
}
