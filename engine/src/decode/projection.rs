//! Projected parsing: a JSON document is parsed into a [`Value`] that holds only the keys a
//! [`Trie`] names, and every other part is skipped by [`super::json`], which validates the JSON
//! but allocates nothing.
//!
//! A trie node lists the keys to keep at one level of an object. A key either keeps its whole
//! value ([`Child::Keep`], the last key of a rule's path) or descends into another node. Arrays are
//! transparent: the node applies to each element, as a key step of a field path applies to each
//! element of an array it crosses (see [`crate::path`]). Scalars at an inner node are dropped
//! (a path cannot go through a scalar) unless the node keeps scalars (the `log` of Fluent Bit,
//! which is a string to parse again).
//!
//! INVARIANT: for every path whose key prefix was inserted, walking the projected value gives the
//! same values as walking the full value; and every key the shapes and `Event::classify` read is
//! inserted (see `super::Decoder::new`).

use serde_json::Value;

use super::json::{self, JsonError};
use crate::doc::KeyNumber;

/// The keys to keep, as a graph of nodes (a node may be reached again, e.g. the items of an
/// `EventList` are documents in their own right).
#[derive(Debug, Clone)]
pub struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Sorted by key length, then key (see [`Trie::child`]).
    children: Vec<Entry>,
    /// Whether a scalar found at this node is kept (else it is dropped).
    keep_scalars: bool,
    /// For each key length, the range of `children` with keys of that length.
    by_length: Vec<(u32, u32)>,
}

impl Node {
    fn index_lengths(&mut self) {
        let longest = self.children.last().map_or(0, |e| e.key.len());
        self.by_length = vec![(0, 0); longest + 1];
        for (i, e) in self.children.iter().enumerate() {
            let range = &mut self.by_length[e.key.len()];
            if range.0 == range.1 {
                *range = (i as u32, i as u32);
            }
            range.1 = i as u32 + 1;
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// The key's first 8 bytes (zero-padded), little-endian.
    head: u64,
    key: Box<str>,
    child: Child,
}

/// The first 8 bytes of a key as an integer, zero-padded. In at most two loads, which overlap for
/// keys of 5 to 7 bytes (the overlapping bytes are the same, so or-ing them changes nothing): a
/// copy of a variable length is a `memcpy` call, which cost more than the rest of a lookup.
#[inline]
fn head(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let n = bytes.len();
    let u32_at = |i: usize| {
        bytes
            .get(i..)
            .and_then(<[u8]>::first_chunk::<4>)
            .map_or(0, |four| u64::from(u32::from_le_bytes(*four)))
    };
    match n {
        8.. => bytes
            .first_chunk::<8>()
            .map_or(0, |eight| u64::from_le_bytes(*eight)),
        4..=7 => u32_at(0) | u32_at(n - 4) << (8 * (n - 4)),
        // Bytes 0, n/2 and n-1 are every byte of a key of 1 to 3.
        1..=3 => {
            u64::from(bytes[0])
                | u64::from(bytes[n / 2]) << (8 * (n / 2))
                | u64::from(bytes[n - 1]) << (8 * (n - 1))
        }
        0 => 0,
    }
}

/// Whether two keys of the same length, longer than 8 bytes and with the same first 8, are equal:
/// compared 8 bytes at a time from the end backwards, without a `memcmp` call (long audit keys
/// such as `requestReceivedTimestamp` are looked up in every event).
#[inline]
fn same_tail(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    debug_assert!(a.len() == b.len() && a.len() > 8);
    // Blocks of 8 ending at `end`; the first one compared last may overlap the head, which is
    // equal already.
    let mut end = a.len();
    while end > 8 {
        let start = end - 8;
        let block = |s: &[u8]| s.get(start..).and_then(<[u8]>::first_chunk::<8>).copied();
        if block(a) != block(b) {
            return false;
        }
        end = start;
    }
    true
}

/// What to keep of one key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// The whole value.
    Keep,
    /// What the node keeps.
    Node(NodeId),
}

/// A node of a [`Trie`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId(u32);

impl Trie {
    /// The root node.
    pub const ROOT: NodeId = NodeId(0);

    /// A trie with an empty root that keeps scalars (so that a document that is not an object
    /// keeps its type for the message that says so).
    pub fn new() -> Trie {
        Trie {
            nodes: vec![Node {
                keep_scalars: true,
                ..Node::default()
            }],
        }
    }

    /// A new empty node, not yet reachable.
    pub fn add_node(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        NodeId(self.nodes.len() as u32 - 1)
    }

    /// Makes `node` keep the scalars found at it, for a value that is parsed again (the `log`
    /// string of Fluent Bit's records).
    pub fn set_keep_scalars(&mut self, node: NodeId) {
        self.nodes[node.0 as usize].keep_scalars = true;
    }

    /// The child of `node` at `key`. This runs for every key of every parsed object: children
    /// are grouped by length (found by indexing), and carry their first 8 bytes as an integer,
    /// so that a lookup usually decides with a few integer compares (a binary search calling
    /// `memcmp` cost as much as the rest of the parse's bookkeeping).
    #[inline]
    pub(super) fn child(&self, node: NodeId, key: &str) -> Option<Child> {
        self.numbered_child(node, key).map(|(child, _)| child)
    }

    /// [`Trie::child`], with the key's number among the children of `node` (its place in them):
    /// equal keys get the same number and different keys different ones, which is what a
    /// document builder needs to find repeated keys ([`crate::doc::SeenKeys`]).
    #[inline]
    pub(super) fn numbered_child(&self, node: NodeId, key: &str) -> Option<(Child, KeyNumber)> {
        let node = &self.nodes[node.0 as usize];
        let len = key.len();
        let (start, end) = match node.by_length.get(len) {
            Some(&(start, end)) => (start as usize, end as usize),
            None => return None,
        };
        let head = head(key);
        node.children[start..end]
            .iter()
            .zip(start as u32..)
            .find(|(e, _)| e.head == head && (len <= 8 || same_tail(&e.key, key)))
            .map(|(e, number)| (e.child, KeyNumber(number)))
    }

    /// The number of `key` among the children of `node` ([`Trie::numbered_child`]), if it is one.
    pub(super) fn key_number(&self, node: NodeId, key: &str) -> Option<KeyNumber> {
        self.numbered_child(node, key).map(|(_, number)| number)
    }

    fn set_child(&mut self, node: NodeId, key: &str, child: Child) {
        let node = &mut self.nodes[node.0 as usize];
        match node.children.binary_search_by(|e| by_length(&e.key, key)) {
            Ok(i) => node.children[i].child = child,
            Err(i) => {
                node.children.insert(
                    i,
                    Entry {
                        head: head(key),
                        key: key.into(),
                        child,
                    },
                );
                node.index_lengths();
            }
        }
    }

    /// Keeps the whole value at `keys` below `node`. A key already kept whole stays so.
    pub fn insert(&mut self, node: NodeId, keys: &[&str]) {
        let Some((last, inner)) = keys.split_last() else {
            return;
        };
        let mut at = node;
        for key in inner {
            match self.child(at, key) {
                Some(Child::Keep) => return,
                Some(Child::Node(next)) => at = next,
                None => {
                    let next = self.add_node();
                    self.set_child(at, key, Child::Node(next));
                    at = next;
                }
            }
        }
        self.set_child(at, last, Child::Keep);
    }

    /// The node under `keys` below `node`, created when missing; `None` when some key on the
    /// way is already kept whole (there is nothing to add below it).
    pub fn node_at(&mut self, node: NodeId, keys: &[&str]) -> Option<NodeId> {
        let mut at = node;
        for key in keys {
            match self.child(at, key) {
                Some(Child::Keep) => return None,
                Some(Child::Node(next)) => at = next,
                None => {
                    let next = self.add_node();
                    self.set_child(at, key, Child::Node(next));
                    at = next;
                }
            }
        }
        Some(at)
    }

    /// Makes `key` of `node` lead to `target` (unless it is kept whole already).
    pub fn link(&mut self, node: NodeId, key: &str, target: NodeId) {
        match self.child(node, key) {
            Some(Child::Keep) => {}
            // Merging two nodes would need a copy; the links made by the decoder go to keys
            // that no rule path starts with, so a clash means "keep it whole", which is safe.
            Some(Child::Node(existing)) if existing != target => {
                self.set_child(node, key, Child::Keep)
            }
            _ => self.set_child(node, key, Child::Node(target)),
        }
    }

    /// Parses one JSON document, keeping what the root node names. Trailing non-whitespace is an
    /// error, as for `serde_json::from_str`.
    pub fn parse(&self, text: &str) -> Result<Value, JsonError> {
        json::parse_projected(text, self)
    }

    /// Whether a scalar found at `node` is kept.
    #[inline]
    pub(super) fn keeps_scalars(&self, node: NodeId) -> bool {
        self.nodes[node.0 as usize].keep_scalars
    }
}

impl Default for Trie {
    fn default() -> Self {
        Trie::new()
    }
}

fn by_length(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trie(paths: &[&[&str]]) -> Trie {
        let mut t = Trie::new();
        for p in paths {
            t.insert(Trie::ROOT, p);
        }
        t
    }

    #[test]
    fn head_is_the_first_eight_bytes_zero_padded() {
        for key in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
        ] {
            let mut bytes = [0u8; 8];
            let n = key.len().min(8);
            bytes[..n].copy_from_slice(&key.as_bytes()[..n]);
            assert_eq!(head(key), u64::from_le_bytes(bytes), "{key}");
        }
    }

    #[test]
    fn long_keys_differ_at_any_byte() {
        for len in 9..40 {
            let a = "k".repeat(len);
            assert!(same_tail(&a, &a.clone()));
            for at in 0..len {
                let mut b = a.clone().into_bytes();
                b[at] = b'x';
                let b = String::from_utf8(b).unwrap();
                // The bytes after the head are compared (the head is compared as a u64, and may
                // or may not be compared again).
                if at >= 8 {
                    assert!(!same_tail(&a, &b), "len {len}, at {at}");
                }
            }
        }
    }

    #[test]
    fn keeps_named_subtrees_and_drops_the_rest() {
        let t = trie(&[
            &["verb"],
            &["objectRef", "resource"],
            &["requestObject", "spec"],
        ]);
        let text = r#"{"verb":"get","level":"Metadata","objectRef":{"resource":"pods","name":"x"},
            "requestObject":{"metadata":{"name":"p"},"spec":{"containers":[{"image":"a"}]}},
            "responseObject":{"big":[1,2,3,{"deep":"\"escaped\""}]}}"#;
        assert_eq!(
            t.parse(text).unwrap(),
            json!({"verb":"get","objectRef":{"resource":"pods"},
                   "requestObject":{"spec":{"containers":[{"image":"a"}]}}})
        );
    }

    #[test]
    fn arrays_are_transparent_and_inner_scalars_dropped() {
        let t = trie(&[&["spec", "containers", "image"]]);
        let text = r#"{"spec":{"containers":[{"image":"a","name":"x"},7,[{"image":"b"}]]}}"#;
        assert_eq!(
            t.parse(text).unwrap(),
            json!({"spec":{"containers":[{"image":"a"},[{"image":"b"}]]}})
        );
    }

    #[test]
    fn a_kept_key_stays_whole_when_a_longer_path_is_added() {
        let mut t = trie(&[&["user"]]);
        t.insert(Trie::ROOT, &["user", "username"]);
        assert_eq!(
            t.parse(r#"{"user":{"username":"u","groups":["g"]}}"#)
                .unwrap(),
            json!({"user":{"username":"u","groups":["g"]}})
        );
    }

    #[test]
    fn the_last_of_repeated_keys_wins_as_in_a_full_parse() {
        let t = trie(&[&["a", "b"]]);
        assert_eq!(t.parse(r#"{"a":{"b":1},"a":2}"#).unwrap(), json!({}));
        assert_eq!(
            serde_json::from_str::<Value>(r#"{"a":{"b":1},"a":2}"#).unwrap(),
            json!({"a":2})
        );
    }

    #[test]
    fn syntax_errors_in_skipped_parts_are_still_errors() {
        let t = trie(&[&["verb"]]);
        let err = t.parse(r#"{"verb":"get","skipped":[1,}"#).unwrap_err();
        assert!(err.to_string().starts_with("expected value"), "{err}");
        assert!(t.parse(r#"{"verb":"get"} x"#).is_err());
        assert_eq!(t.parse("12").unwrap(), json!(12));
    }

    #[test]
    fn linked_nodes_recurse() {
        let mut t = trie(&[&["verb"]]);
        t.link(Trie::ROOT, "items", Trie::ROOT);
        assert_eq!(
            t.parse(r#"{"kind":"EventList","items":[{"verb":"get","x":1}]}"#)
                .unwrap(),
            json!({"items":[{"verb":"get"}]})
        );
    }
}
