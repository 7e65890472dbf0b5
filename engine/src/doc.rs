//! The event document: an event's JSON (what the decoder kept of it) in two flat allocations.
//!
//! A [`serde_json::Value`] costs an allocation per string, per key and per object, a B-tree
//! insert per key and as many frees when it is dropped; for audit events that was most of the
//! time k8scop spent per event. A [`Doc`] is a list of [`Node`]s in document order (a container is
//! followed by its elements; an object's members are key, value, key, value...) plus one string
//! holding every key and string value, so building one is two allocations whatever the event.
//!
//! [`Ref`] is a cheap, copyable view of one node, with what evaluation needs: `get` a key,
//! iterate items, read a scalar. [`Ref::to_value`] gives a `Value` for the few consumers that
//! need one (function calls, scripts, alert fields).
//!
//! Repeated keys: the last occurrence wins, as in a `serde_json::Value` (the earlier ones are
//! [`Node::Shadowed`] when the later one is added).

use std::collections::HashMap;
use std::hash::BuildHasher;

use serde_json::{Map, Number, Value};

use crate::hash::KeyedHash;

/// One event document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// `nodes[0]` is the root.
    nodes: Box<[Node]>,
    text: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    Int(i64),
    Float(f64),
    /// A string value: `text[start..start + len]`.
    Str {
        start: u32,
        len: u32,
    },
    /// An object key, followed by its value; `next` is the index of the next member's key (or
    /// the end of the object), so that a lookup steps from key to key.
    Key {
        start: u32,
        len: u32,
        next: u32,
    },
    /// A key repeated later in its object: skipped, with its value.
    Shadowed {
        next: u32,
    },
    /// `len` elements follow; `end` is the index after the last node of the array.
    Array {
        len: u32,
        end: u32,
    },
    /// `len` members (key and value) follow; `end` as for arrays.
    Object {
        len: u32,
        end: u32,
    },
}

// Nodes stay 16 bytes: a tag and at most three 32-bit fields or one 64-bit one.
const _: () = assert!(std::mem::size_of::<Node>() == 16);

impl Doc {
    /// The root value.
    pub fn root(&self) -> Ref<'_> {
        Ref { doc: self, at: 0 }
    }

    /// The document of a `Value`.
    pub fn from_value(value: &Value) -> Doc {
        let mut builder = DocBuilder::default();
        builder.value(value);
        builder.finish()
    }

    /// The document as a `serde_json::Value` (a copy: for output and tests, not per event).
    pub fn to_value(&self) -> Value {
        self.root().to_value()
    }

    /// The index after the subtree at `at`.
    #[inline]
    fn end_of(&self, at: u32) -> u32 {
        match self.nodes[at as usize] {
            Node::Array { end, .. } | Node::Object { end, .. } => end,
            _ => at + 1,
        }
    }

    #[inline]
    fn str_at(&self, start: u32, len: u32) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    /// [`Doc::str_at`]'s bytes, for comparisons (no character boundaries to check).
    #[inline]
    fn bytes_at(&self, start: u32, len: u32) -> &[u8] {
        &self.text.as_bytes()[start as usize..(start + len) as usize]
    }
}

/// A view of one value of a [`Doc`].
#[derive(Clone, Copy)]
pub struct Ref<'d> {
    doc: &'d Doc,
    at: u32,
}

impl std::fmt::Debug for Ref<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

impl<'d> Ref<'d> {
    #[inline]
    fn node(self) -> Node {
        self.doc.nodes[self.at as usize]
    }

    /// The node's index in its document.
    #[inline]
    pub(crate) fn index(self) -> u32 {
        self.at
    }

    /// Another node of the same document, by [`Ref::index`].
    #[inline]
    pub(crate) fn node_at(self, index: u32) -> Ref<'d> {
        Ref {
            doc: self.doc,
            at: index,
        }
    }

    /// Whether the value is JSON `null`.
    #[inline]
    pub fn is_null(self) -> bool {
        matches!(self.node(), Node::Null)
    }

    /// Whether the value is an array.
    #[inline]
    pub fn is_array(self) -> bool {
        matches!(self.node(), Node::Array { .. })
    }

    /// Whether the value is an object.
    #[inline]
    pub fn is_object(self) -> bool {
        matches!(self.node(), Node::Object { .. })
    }

    /// Whether the value is a string.
    #[inline]
    pub fn is_string(self) -> bool {
        matches!(self.node(), Node::Str { .. })
    }

    /// The string, borrowed from the document, if the value is one.
    #[inline]
    pub fn as_str(self) -> Option<&'d str> {
        match self.node() {
            Node::Str { start, len } => Some(self.doc.str_at(start, len)),
            _ => None,
        }
    }

    /// The boolean, if the value is one.
    #[inline]
    pub fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an `i64`, when it is an integer that fits.
    pub fn as_i64(self) -> Option<i64> {
        match self.node() {
            Node::Int(i) => Some(i),
            Node::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The value as a number, when it is one.
    #[inline]
    pub fn as_number(self) -> Option<Number> {
        match self.node() {
            Node::UInt(u) => Some(u.into()),
            Node::Int(i) => Some(i.into()),
            Node::Float(f) => Number::from_f64(f),
            _ => None,
        }
    }

    /// The value of `key`, when this is an object that has it.
    #[inline]
    pub fn get(self, key: &str) -> Option<Ref<'d>> {
        let Node::Object { len: members, .. } = self.node() else {
            return None;
        };
        let doc = self.doc;
        let mut at = self.at + 1;
        for _ in 0..members {
            match doc.nodes[at as usize] {
                Node::Key { start, len, next } => {
                    if len as usize == key.len()
                        && same_bytes(doc.bytes_at(start, len), key.as_bytes())
                    {
                        return Some(Ref { doc, at: at + 1 });
                    }
                    at = next;
                }
                Node::Shadowed { next } => at = next,
                _ => return None,
            }
        }
        None
    }

    /// The values of several distinct keys, when this is an object, in one pass over its
    /// members: what `keys.map(|k| self.get(k))` gives, for the cost of about one [`Ref::get`]
    /// (the decoder reads a dozen keys of every event's root this way). A key given twice is
    /// found at its first place only. At most 32 keys.
    #[inline]
    pub fn get_all<const N: usize>(self, keys: [&str; N]) -> [Option<Ref<'d>>; N] {
        const { assert!(N <= 32, "get_all takes at most 32 keys") };
        let mut found = [None; N];
        let Node::Object { len: members, .. } = self.node() else {
            return found;
        };
        // The keys of each length (31 bytes and more share the last entry), as bits: a member
        // is compared only with the keys of its length that are still missing, in a loop whose
        // cost does not depend on the compiler unrolling a comparison with every key.
        let mut by_length = [0u32; 32];
        for (i, key) in keys.iter().enumerate() {
            by_length[key.len().min(31)] |= 1 << i;
        }
        let mut missing = ((1u64 << N) - 1) as u32;
        let doc = self.doc;
        let mut at = self.at + 1;
        for _ in 0..members {
            if missing == 0 {
                break;
            }
            match doc.nodes[at as usize] {
                Node::Key { start, len, next } => {
                    let mut candidates = by_length[(len as usize).min(31)] & missing;
                    while candidates != 0 {
                        let i = candidates.trailing_zeros() as usize;
                        candidates &= candidates - 1;
                        let name = doc.bytes_at(start, len);
                        if keys[i].len() == name.len() && same_bytes(name, keys[i].as_bytes()) {
                            found[i] = Some(Ref { doc, at: at + 1 });
                            missing &= !(1 << i);
                            break;
                        }
                    }
                    at = next;
                }
                Node::Shadowed { next } => at = next,
                _ => break,
            }
        }
        found
    }

    /// The elements of an array (none for anything else).
    pub fn items(self) -> Items<'d> {
        match self.node() {
            Node::Array { len, .. } => Items {
                doc: self.doc,
                at: self.at + 1,
                left: len,
            },
            _ => Items {
                doc: self.doc,
                at: 0,
                left: 0,
            },
        }
    }

    /// The members of an object (none for anything else).
    pub fn members(self) -> Members<'d> {
        match self.node() {
            Node::Object { len, .. } => Members {
                doc: self.doc,
                at: self.at + 1,
                left: len,
            },
            _ => Members {
                doc: self.doc,
                at: 0,
                left: 0,
            },
        }
    }

    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self.node() {
            Node::Null | Node::Key { .. } | Node::Shadowed { .. } => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::UInt(u) => Value::Number(u.into()),
            Node::Int(i) => Value::Number(i.into()),
            Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Node::Str { start, len } => Value::String(self.doc.str_at(start, len).to_owned()),
            Node::Array { .. } => Value::Array(self.items().map(Ref::to_value).collect()),
            Node::Object { .. } => Value::Object(
                self.members()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

/// The elements of an array.
#[derive(Clone)]
pub struct Items<'d> {
    doc: &'d Doc,
    at: u32,
    left: u32,
}

impl<'d> Iterator for Items<'d> {
    type Item = Ref<'d>;

    #[inline]
    fn next(&mut self) -> Option<Ref<'d>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = Ref {
            doc: self.doc,
            at: self.at,
        };
        self.at = self.doc.end_of(self.at);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// The members of an object, in document order, repeated keys skipped.
#[derive(Clone)]
pub struct Members<'d> {
    doc: &'d Doc,
    at: u32,
    left: u32,
}

impl<'d> Iterator for Members<'d> {
    type Item = (&'d str, Ref<'d>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while self.left > 0 {
            self.left -= 1;
            let value = self.at + 1;
            match self.doc.nodes[self.at as usize] {
                Node::Key { start, len, next } => {
                    self.at = next;
                    let value = Ref {
                        doc: self.doc,
                        at: value,
                    };
                    return Some((self.doc.str_at(start, len), value));
                }
                Node::Shadowed { next } => self.at = next,
                _ => return None,
            }
        }
        None
    }
}

/// Whether two byte strings are equal, with a few loads that may overlap instead of a loop over
/// the bytes: keys are short, and a `memcmp` call (or a byte loop) cost more than the comparison
/// itself in profiles.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let u64_at = |s: &[u8], i: usize| s.get(i..).and_then(<[u8]>::first_chunk::<8>).copied();
    let u32_at = |s: &[u8], i: usize| s.get(i..).and_then(<[u8]>::first_chunk::<4>).copied();
    match n {
        // Blocks of 8 from the start, the last one ending at the end (it may overlap the one
        // before, whose bytes are equal already).
        8.. => {
            let mut i = 0;
            while i + 8 < n {
                if u64_at(a, i) != u64_at(b, i) {
                    return false;
                }
                i += 8;
            }
            u64_at(a, n - 8) == u64_at(b, n - 8)
        }
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        // Bytes 0, n/2 and n-1 are every byte of a string of 1 to 3.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        0 => true,
    }
}

/// Builds a [`Doc`] in document order. The decoder keeps one per task and reuses its buffers:
/// [`DocBuilder::finish_into`] copies them into the exact-size allocations of the document.
#[derive(Debug, Default)]
pub struct DocBuilder {
    nodes: Vec<Node>,
    text: String,
}

/// The keys of an object being built, so that a repeated key finds the earlier member without
/// comparing itself with every member. Up to [`SCAN_LIMIT`] members, a 64-bit filter (one bit per
/// hash of length and end bytes) says when the members must be scanned; past it, an index from
/// key hash to member (SipHash with a random key, so that crafted keys cannot collide on purpose)
/// keeps a wide object linear.
#[derive(Debug, Default)]
pub struct SeenKeys {
    filter: u64,
    /// For keys the caller numbered ([`DocBuilder::numbered_key`]): one bit per number below 64.
    /// Numbers are exact (equal keys, the same number), so a bit set twice is a repeated key.
    numbered: u64,
    members: usize,
    index: Option<(KeyedHash, HashMap<u64, usize>)>,
}

/// Members of an object that are scanned for a repeated key before it gets an index.
const SCAN_LIMIT: usize = 32;

/// A number that names a key exactly among the keys of one object: equal keys get the same
/// number, different keys different ones. The decoder's projection numbers the keys it keeps
/// (their places in a trie node), which finds repeated keys without the filter's false alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyNumber(pub u32);

impl SeenKeys {
    fn bit(key: &str) -> u64 {
        let bytes = key.as_bytes();
        let first = bytes.first().copied().unwrap_or(0) as usize;
        let last = bytes.last().copied().unwrap_or(0) as usize;
        1 << ((bytes.len() * 7 + first * 3 + last) % 64)
    }
}

/// Where a builder was, to go back there.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    nodes: usize,
    text: usize,
}

impl DocBuilder {
    /// Forgets what was built, keeping the buffers for the next document.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.text.clear();
    }

    /// Whether nothing has been built since the last [`DocBuilder::clear`].
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Where the builder is now, for [`DocBuilder::rollback`].
    pub fn mark(&self) -> Mark {
        Mark {
            nodes: self.nodes.len(),
            text: self.text.len(),
        }
    }

    /// Drops what was added since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        self.nodes.truncate(mark.nodes);
        self.text.truncate(mark.text);
    }

    fn push_text(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        (offset(start), offset(s.len()))
    }

    /// Appends `null`.
    pub fn null(&mut self) {
        self.nodes.push(Node::Null);
    }

    /// Appends a boolean.
    pub fn bool(&mut self, b: bool) {
        self.nodes.push(Node::Bool(b));
    }

    /// Appends a non-negative integer (one above `i64::MAX` keeps its exact value).
    pub fn uint(&mut self, u: u64) {
        self.nodes.push(Node::UInt(u));
    }

    /// Appends an integer.
    pub fn int(&mut self, i: i64) {
        self.nodes.push(Node::Int(i));
    }

    /// A float; not finite becomes null (as in serde_json).
    pub fn float(&mut self, f: f64) {
        self.nodes.push(if f.is_finite() {
            Node::Float(f)
        } else {
            Node::Null
        });
    }

    /// Appends a string, copied into the document's text.
    pub fn string(&mut self, s: &str) {
        let (start, len) = self.push_text(s);
        self.nodes.push(Node::Str { start, len });
    }

    /// Opens an array; close it with [`DocBuilder::close`].
    pub fn open_array(&mut self) -> usize {
        self.nodes.push(Node::Array { len: 0, end: 0 });
        self.nodes.len() - 1
    }

    /// Opens an object; add members with [`DocBuilder::key`] and a value each.
    pub fn open_object(&mut self) -> usize {
        self.nodes.push(Node::Object { len: 0, end: 0 });
        self.nodes.len() - 1
    }

    /// Adds `key` to the object opened at `object` (whose keys so far are `seen`), shadowing an
    /// earlier member with that key; returns where the key is. Its value must follow, then
    /// [`DocBuilder::end_member`].
    pub fn key(&mut self, object: usize, seen: &mut SeenKeys, key: &str) -> usize {
        self.key_numbered(object, seen, key, None)
    }

    /// [`DocBuilder::key`] of a key the caller numbered ([`KeyNumber`]): a repeated key is
    /// found by its number, with no false alarm to check by scanning the members.
    #[inline]
    pub fn numbered_key(
        &mut self,
        object: usize,
        seen: &mut SeenKeys,
        key: &str,
        number: KeyNumber,
    ) -> usize {
        self.key_numbered(object, seen, key, Some(number))
    }

    #[inline]
    fn key_numbered(
        &mut self,
        object: usize,
        seen: &mut SeenKeys,
        key: &str,
        number: Option<KeyNumber>,
    ) -> usize {
        let at = self.nodes.len();
        match &mut seen.index {
            Some((state, index)) => {
                let hash = state.hash_one(key);
                if let Some(&earlier) = index.get(&hash) {
                    if self.key_at(earlier) == Some(key) {
                        self.hide(earlier);
                    } else {
                        // Two keys with one 64-bit hash: as good as never, but still correct.
                        self.shadow(object, key);
                    }
                }
                index.insert(hash, at);
            }
            None => {
                let (filter, bit) = match number {
                    Some(KeyNumber(n)) if n < 64 => (&mut seen.numbered, 1 << n),
                    _ => (&mut seen.filter, SeenKeys::bit(key)),
                };
                let repeated = *filter & bit != 0;
                *filter |= bit;
                if repeated {
                    self.shadow(object, key);
                }
            }
        }
        let (start, len) = self.push_text(key);
        self.nodes.push(Node::Key {
            start,
            len,
            next: 0,
        });
        seen.members += 1;
        if seen.index.is_none() && seen.members > SCAN_LIMIT {
            seen.index = Some(self.index_members(object));
        }
        at
    }

    /// Ends the member whose key is at `key`: its value is complete.
    pub fn end_member(&mut self, key: usize) {
        let end = offset(self.nodes.len());
        if let Node::Key { next, .. } = &mut self.nodes[key] {
            *next = end;
        }
    }

    /// Turns the live key at `at` into a shadowed one.
    fn hide(&mut self, at: usize) {
        if let Node::Key { next, .. } = self.nodes[at] {
            self.nodes[at] = Node::Shadowed { next };
        }
    }

    /// The key after the (complete) member whose key is at `at`.
    fn next_member(&self, at: usize) -> usize {
        match self.nodes.get(at) {
            // A member is always ended before the next key is added; a scan never goes back.
            Some(Node::Key { next, .. } | Node::Shadowed { next }) if *next as usize > at => {
                *next as usize
            }
            _ => self.nodes.len(),
        }
    }

    /// Takes back the last [`DocBuilder::key`] (made at `mark`) when nothing of its value is
    /// kept. The earlier member it shadowed stays hidden: the last occurrence of a key wins, and
    /// here the last occurrence is "nothing".
    pub fn unkey(&mut self, mark: Mark, seen: &mut SeenKeys, key: &str) {
        self.rollback(mark);
        seen.members -= 1;
        if let Some((state, index)) = &mut seen.index {
            let hash = state.hash_one(key);
            if index.get(&hash).is_some_and(|&at| at >= mark.nodes) {
                index.remove(&hash);
            }
        }
    }

    /// The key at node `at`, if it is a live key.
    fn key_at(&self, at: usize) -> Option<&str> {
        match self.nodes.get(at) {
            Some(Node::Key { start, len, .. }) => {
                Some(&self.text[*start as usize..(*start + *len) as usize])
            }
            _ => None,
        }
    }

    /// The index of the live members of the open object at `object`.
    fn index_members(&self, object: usize) -> (KeyedHash, HashMap<u64, usize>) {
        let state = KeyedHash::new();
        let mut index = HashMap::new();
        let mut at = object + 1;
        while at < self.nodes.len() {
            if let Some(key) = self.key_at(at) {
                index.insert(state.hash_one(key), at);
            }
            at = self.next_member(at);
        }
        (state, index)
    }

    /// Hides the live member `key` of the open object at `object`, if it has one, by scanning.
    fn shadow(&mut self, object: usize, key: &str) {
        let mut at = object + 1;
        while at < self.nodes.len() {
            if let Node::Key { start, len, .. } = self.nodes[at] {
                if len as usize == key.len()
                    && same_bytes(
                        &self.text.as_bytes()[start as usize..(start + len) as usize],
                        key.as_bytes(),
                    )
                {
                    // At most one member is live per key: the scan can stop.
                    self.hide(at);
                    return;
                }
            }
            at = self.next_member(at);
        }
    }

    /// Closes the array or object opened at `at`, with `len` elements or members.
    pub fn close(&mut self, at: usize, len: usize) {
        let end = offset(self.nodes.len());
        let len = offset(len);
        match &mut self.nodes[at] {
            Node::Array { len: l, end: e } | Node::Object { len: l, end: e } => {
                *l = len;
                *e = end;
            }
            _ => unreachable!("close() of a scalar node"),
        }
    }

    /// Adds a whole `Value`.
    pub fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => self.uint(u),
                (None, Some(i), _) => self.int(i),
                (_, _, Some(f)) => self.float(f),
                _ => self.null(),
            },
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let at = self.open_array();
                for item in items {
                    self.value(item);
                }
                self.close(at, items.len());
            }
            Value::Object(map) => {
                // A map's keys are unique: no shadowing to do.
                let at = self.open_object();
                for (k, v) in map {
                    let (start, len) = self.push_text(k);
                    let key = self.nodes.len();
                    self.nodes.push(Node::Key {
                        start,
                        len,
                        next: 0,
                    });
                    self.value(v);
                    self.end_member(key);
                }
                self.close(at, map.len());
            }
        }
    }

    /// The document built so far (its buffers copied to exact-size allocations); the builder is
    /// cleared for the next one. An empty builder gives a `null` document.
    pub fn finish_into(&mut self) -> Doc {
        if self.nodes.is_empty() {
            self.null();
        }
        let doc = Doc {
            nodes: self.nodes.as_slice().into(),
            text: self.text.as_str().into(),
        };
        self.clear();
        doc
    }

    /// The document built (without copying).
    pub fn finish(mut self) -> Doc {
        if self.nodes.is_empty() {
            self.null();
        }
        Doc {
            nodes: self.nodes.into_boxed_slice(),
            text: self.text.into_boxed_str(),
        }
    }
}

/// A text offset or count as stored in a node. Lines are capped far below 4 GiB by the sources
/// (see `sources::file`), so this cannot truncate; saturating keeps it panic-free regardless.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_round_trips() {
        let value = json!({"verb":"get","n":[1,-2,2.5,null,true,{"a":{"b":[]}}],"s":"é\"x",
                           "big":18446744073709551615u64,"o":{}});
        let doc = Doc::from_value(&value);
        assert_eq!(doc.to_value(), value);
        let root = doc.root();
        assert_eq!(root.get("verb").and_then(Ref::as_str), Some("get"));
        assert_eq!(root.get("n").map(|n| n.items().count()), Some(6));
        assert_eq!(
            root.get("n")
                .and_then(|n| n.items().nth(5))
                .and_then(|o| o.get("a"))
                .map(Ref::is_object),
            Some(true)
        );
        assert_eq!(
            root.get("n")
                .and_then(|n| n.items().nth(1))
                .and_then(Ref::as_i64),
            Some(-2)
        );
        assert!(root.get("missing").is_none());
        assert!(root.get("verb").unwrap().get("x").is_none());
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        let text = b"objectRef.namespace-and-more";
        for len in 0..text.len() {
            let a = &text[..len];
            assert!(same_bytes(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{len} {at}");
            }
            assert!(!same_bytes(a, &text[..len + 1]));
        }
    }

    #[test]
    fn a_repeated_key_shadows_the_earlier_one() {
        let mut b = DocBuilder::default();
        let o = b.open_object();
        let mut seen = SeenKeys::default();
        let k = b.key(o, &mut seen, "a");
        b.uint(1);
        b.end_member(k);
        let k = b.key(o, &mut seen, "b");
        b.uint(2);
        b.end_member(k);
        let k = b.key(o, &mut seen, "a");
        let inner = b.open_array();
        b.uint(3);
        b.close(inner, 1);
        b.end_member(k);
        b.close(o, 3);
        let doc = b.finish_into();
        assert_eq!(doc.to_value(), json!({"b":2,"a":[3]}));
        assert_eq!(doc.root().get("a").map(Ref::to_value), Some(json!([3])));
        assert_eq!(doc.root().members().count(), 2);
        let [a, b, c] = doc.root().get_all(["a", "b", "c"]);
        assert_eq!(a.map(Ref::to_value), Some(json!([3])));
        assert_eq!(b.map(Ref::to_value), Some(json!(2)));
        assert!(c.is_none());
    }

    #[test]
    fn numbered_keys_find_repeats_exactly() {
        // Numbers below 64 and above (those share the hashed filter), mixed with unnumbered keys.
        let mut b = DocBuilder::default();
        let o = b.open_object();
        let mut seen = SeenKeys::default();
        let keys = [
            ("a", Some(0)),
            ("b", Some(70)),
            ("c", Some(1)),
            ("a", Some(0)),
            ("b", Some(70)),
            ("d", Some(63)),
            ("e", None),
            ("e", None),
        ];
        for (i, (key, number)) in keys.into_iter().enumerate() {
            let k = match number {
                Some(n) => b.numbered_key(o, &mut seen, key, KeyNumber(n)),
                None => b.key(o, &mut seen, key),
            };
            b.uint(i as u64);
            b.end_member(k);
        }
        b.close(o, keys.len());
        let doc = b.finish_into();
        assert_eq!(
            doc.to_value(),
            json!({"c": 2, "a": 3, "b": 4, "d": 5, "e": 7})
        );
        assert_eq!(doc.root().members().count(), 5);
    }

    #[test]
    fn get_all_finds_what_get_finds() {
        let value = json!({"verb":"get","ver":1,"verbs":[2],"objectRef":{"name":"x"},
                           "requestReceivedTimestamp":"t","requestReceivedTimestampX":"u","":0});
        let doc = Doc::from_value(&value);
        let keys = [
            "requestReceivedTimestamp",
            "verb",
            "name",
            "",
            "objectRef",
            "verbs",
            "ver",
            "missing",
            "verb",
        ];
        let all = doc.root().get_all(keys);
        for (key, found) in keys.iter().zip(all).take(8) {
            assert_eq!(
                found.map(Ref::index),
                doc.root().get(key).map(Ref::index),
                "{key}"
            );
        }
        // A key asked twice is found once (the first time).
        assert!(all[1].is_some() && all[8].is_none());
        // Keys of 64 bytes and more.
        let long = "k".repeat(70);
        let longer = "k".repeat(71);
        let doc = Doc::from_value(&json!({ &long: 1, &longer: 2, "k": 3 }));
        let [a, b, c] = doc.root().get_all([longer.as_str(), "k", long.as_str()]);
        assert_eq!(
            [a, b, c].map(|v| v.map(Ref::to_value)),
            [Some(json!(2)), Some(json!(3)), Some(json!(1))]
        );
        let array = Doc::from_value(&json!([{"verb":"get"}]));
        assert!(array.root().get_all(["verb"])[0].is_none());
    }
}
