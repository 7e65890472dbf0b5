//! Decoding: raw text ([`Chunk`]s from the sources) into [`Event`]s, in input order.
//!
//! - [`Decoder`] parses each JSON line with a projection ([`projection::Trie`]) that keeps only
//!   the keys the ruleset, [`Event::classify`] and alert documents read, and skips the rest
//!   without allocating; a ruleset that runs scripts gets full parses (a script sees the whole
//!   event). It then unwraps the shippers' shapes ([`shapes`]: Elastic Agent, Fluent Bit,
//!   GKE, AKS) into the raw audit event and classifies it. `docs/event-shapes.md` describes the
//!   accepted shapes for users.
//! - [`Decoded`] carries the events and the [`Problem`]s (malformed text, documents that are not
//!   events the ruleset evaluates) with their origin and line.
//! - [`Dedup`] drops an audit event seen before (same `auditID` and `stage`) within a bounded
//!   window; it is stateful, so it runs in the ordered engine stage, not in the decoders.
//!
//! It is the one decoder every command uses: `run` decodes its sources' chunks
//! ([`Decoder::decode`]), `test-rule --events` the chunks of the same file source, and `test`
//! blocks their events files ([`Decoder::decode_text`], framed by [`framing`] as the file source
//! frames them) and inline events ([`Decoder::decode_value`]); all drop duplicates with a
//! [`Dedup`] of [`Dedup::DEFAULT_CAPACITY`].
//!
//! A decoder is pure (no I/O, no shared mutable state), so several chunks decode at once on
//! different threads; each chunk's events come out in the chunk's order.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use crate::chunk::Chunk;
use crate::doc::{Doc, DocBuilder, KeyNumber};
use crate::engine::{
    check_version, corrupt, hex64, parse_hex64, version_in, version_of, StateError,
};
use crate::event::{Event, NotAnEvent};
use crate::hash::FastHash;
use crate::input::{read_documents, Record};
use crate::kinds::{self, KindId, KindSet};
use crate::ruleset::Ruleset;

pub mod framing;
pub mod json;
pub mod projection;
pub mod shapes;

/// The fields of an audit event that its deduplication key covers: the id and stage the issue
/// names, and what the API server sets itself. `auditID` alone cannot be trusted: the API server
/// takes it from a client's `Audit-ID` header when there is one, so a client could give a
/// malicious request the id of an earlier harmless one and have it dropped as a duplicate. A
/// true duplicate (the same event shipped twice) agrees on all of these; a forged id does not
/// also reproduce the server's microsecond timestamps, verb, user and URI.
pub const DEDUP_FIELDS: &[&[&str]] = &[
    &["auditID"],
    &["stage"],
    &["requestReceivedTimestamp"],
    &["stageTimestamp"],
    &["verb"],
    &["requestURI"],
    &["user", "username"],
];

/// The deduplication key of an audit event with an `auditID`: a 64-bit SipHash-1-3, keyed at
/// random per process ([`dedup_hash_key`]), of [`DEDUP_FIELDS`] (so that keys stay small enough
/// for the CPU caches and collisions cannot be crafted). Two different events share a key with
/// probability 2^-64 per pair: over a window of 100,000 keys, about one false duplicate in 10^14
/// events.
///
/// `values` are the string values of [`DEDUP_FIELDS`], in that order (`None` for a field that is
/// missing or not a string); the event has no key without a string `auditID`.
pub(crate) fn dedup_key_of(values: [Option<&str>; DEDUP_FIELDS.len()]) -> Option<u64> {
    use std::hash::Hasher;
    values[0]?;
    let mut hasher = dedup_hash_key().hasher();
    for value in values {
        let value = value.unwrap_or_default();
        // Length-prefixed, so that ("a/b", "") and ("a", "b") differ.
        hasher.write_le_u64(value.len() as u64);
        hasher.write(value.as_bytes());
    }
    Some(hasher.finish())
}

/// The process's deduplication hash key: random on a fresh start, or the one a restored
/// [`Dedup`] was saved with ([`Dedup::restore`] installs it before any event is decoded).
static DEDUP_HASH_KEY: std::sync::OnceLock<SipKey> = std::sync::OnceLock::new();

/// The key [`dedup_key`] hashes with; drawn at random on first use unless a restore set it.
fn dedup_hash_key() -> &'static SipKey {
    DEDUP_HASH_KEY.get_or_init(SipKey::random)
}

#[cfg(test)]
pub(crate) mod tests;

use crate::hash::SipKey;
use json::JsonError;
use projection::{NodeId, Trie};

/// Keys read outside the rules besides what the event kinds read ([`kinds::projection_keys`]):
/// `kind` (an `EventList` on one line). The prefilter reads `verb` and `objectRef.resource`,
/// which the audit kind keeps.
const DECODER_KEYS: &[&[&str]] = &[&["kind"]];

/// Turns chunks of raw text into events. Built once per ruleset; shared by decode tasks.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// `None`: parse documents in full.
    projection: Option<Trie>,
    accepted: KindSet,
    /// The numbers of the audit kind's root keys ([`kinds::audit::ROOT_KEYS`]) among the
    /// children of the projection's root, when each has a number [`json::RootMembers`] notes:
    /// a parse then tells where
    /// they are ([`json::RootMembers`]) and identification looks none of them up.
    audit_root: Option<[KeyNumber; kinds::audit::ROOT_KEYS.len()]>,
}

/// What one chunk decoded to.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The events decoded, in input order, wrappers unwrapped and `EventList`s expanded.
    pub events: Vec<Event>,
    /// The lines that did not become events, with why.
    pub problems: Vec<Problem>,
    /// Bytes of input the chunk carried (for progress).
    pub bytes: u64,
}

/// A stretch of input that did not become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The input the problem is in: a file name, `-` for stdin, or a source's own name.
    pub origin: Arc<str>,
    /// 1-based line of `origin` the document starts on.
    pub line: u64,
    /// Malformed or skipped.
    pub kind: ProblemKind,
    /// What is wrong, as the user sees it.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Why a stretch of input did not become an event.
pub enum ProblemKind {
    /// Text that is not JSON (or a wrapper whose nested JSON string is not JSON).
    Malformed,
    /// A JSON document that is not an event the ruleset evaluates.
    Skipped,
}

impl Decoder {
    /// A decoder for `ruleset`: projected parsing unless the ruleset runs scripts.
    pub fn new(ruleset: &Ruleset) -> Decoder {
        let projection = if ruleset.uses_scripts() {
            None
        } else {
            projection_for(ruleset)
        };
        Decoder {
            audit_root: projection.as_ref().and_then(audit_root_numbers),
            projection,
            accepted: accepted(ruleset),
        }
    }

    /// A decoder that parses every document in full (what [`Decoder::new`] does for rulesets
    /// with scripts); for comparisons and debugging.
    pub fn without_projection(ruleset: &Ruleset) -> Decoder {
        Decoder {
            projection: None,
            accepted: accepted(ruleset),
            audit_root: None,
        }
    }

    /// Whether documents are parsed with a projection.
    pub fn projects(&self) -> bool {
        self.projection.is_some()
    }

    /// The projection documents are parsed with, if any.
    pub fn projection(&self) -> Option<&Trie> {
        self.projection.as_ref()
    }

    /// Decodes one chunk. Pure: no I/O, no shared mutable state.
    pub fn decode(&self, chunk: &Chunk) -> Decoded {
        let mut out = Decoded {
            bytes: chunk.len() as u64,
            ..Decoded::default()
        };
        match chunk {
            Chunk::Lines {
                origin,
                first_line,
                text,
            } => self.lines(origin, *first_line, text, &mut out),
            Chunk::Whole { origin, text } => self.whole(origin, text, &mut out),
            Chunk::Restarted { .. } => {}
        }
        out
    }

    /// Decodes the complete text of one input as `run` does when it reads that input from a
    /// file: JSON lines, unless the text is one document ([`framing::is_document`]: a JSON
    /// array, an `EventList`, pretty-printed JSON), which is read whole. For `test` blocks'
    /// events files, which have no source of their own.
    pub fn decode_text(&self, origin: &Arc<str>, text: &str) -> Decoded {
        let mut out = Decoded {
            bytes: text.len() as u64,
            ..Decoded::default()
        };
        if framing::is_document(text) {
            self.whole(origin, text, &mut out);
        } else {
            self.lines(origin, 1, text, &mut out);
        }
        out
    }

    /// Decodes one JSON document that is already parsed (an event written in a `test` block) as
    /// a line holding it would be: an array or `EventList` is expanded, a shipper's wrapper
    /// unwrapped, and what is not an event the ruleset evaluates becomes a [`Problem`] at
    /// `origin:line`. The document keeps all its fields (no projection: it is parsed already).
    pub fn decode_value(&self, value: Value, origin: &Arc<str>, line: u64) -> Decoded {
        let mut out = Decoded::default();
        self.value(value, origin, line, &mut String::new(), &mut out);
        out
    }

    /// JSON lines, the first of which is line `first_line` of `origin`: the hot path.
    fn lines(&self, origin: &Arc<str>, first_line: u64, text: &str, out: &mut Decoded) {
        // One buffer for every event's `origin:line`, and one for building documents, so that
        // naming an event costs no allocation and a document costs two (its exact-size copy).
        let mut position = String::new();
        let mut builder = DocBuilder::default();
        let mut specials = json::Specials::default();
        let mut root = json::RootMembers::default();
        // Room for as many events as lines of the first one's length fit (counting the lines
        // was a pass of its own over the text).
        let first = memchr::memchr(b'\n', text.as_bytes()).map_or(text.len(), |end| end + 1);
        out.events = Vec::with_capacity(text.len() / first.max(64) + 1);
        // Lines found with the memchr crate's vectorised search (`str::split` showed in
        // profiles); the text after the last newline is a line too.
        let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]);
        let mut start = 0;
        for (i, end) in ends.enumerate() {
            let line = &text[start..end];
            start = end + 1;
            let line_no = first_line + i as u64;
            let line = line.strip_suffix('\r').unwrap_or(line);
            // JSON's whitespace only: a form feed is not, and is reported as malformed.
            if line
                .bytes()
                .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                continue;
            }
            let projection = self.projection.as_ref();
            match json::parse_into(line, projection, &mut builder, &mut specials, &mut root) {
                Ok(()) => {
                    let doc = builder.finish_into();
                    self.document(doc, &root, origin, line_no, &mut position, out)
                }
                Err(err) => out.problems.push(Problem {
                    origin: Arc::clone(origin),
                    line: line_no,
                    kind: ProblemKind::Malformed,
                    message: plain_json_error(&err),
                }),
            }
        }
    }

    /// A whole document: rare and small next to a stream of lines, so it is parsed in full by
    /// the reader that handles arrays, `EventList`s and pretty JSON.
    fn whole(&self, origin: &Arc<str>, text: &str, out: &mut Decoded) {
        let mut position = String::new();
        for record in read_documents(text) {
            match record {
                Record::Document { line, value } => {
                    self.event(value, origin, line as u64, &mut position, out)
                }
                Record::Malformed { line, message } => out.problems.push(Problem {
                    origin: Arc::clone(origin),
                    line: line as u64,
                    kind: ProblemKind::Malformed,
                    message,
                }),
            }
        }
    }

    fn parse(&self, text: &str) -> Result<Value, JsonError> {
        match &self.projection {
            Some(trie) => trie.parse(text),
            None => json::parse(text),
        }
    }

    /// One JSON line: an event, or (as `read_documents` does) an array or `EventList` of them.
    fn document(
        &self,
        doc: Doc,
        root: &json::RootMembers,
        origin: &Arc<str>,
        line: u64,
        position: &mut String,
        out: &mut Decoded,
    ) {
        // The common case, a document a kind takes as it is (a raw v1 audit event, a KubeArmor
        // alert...), goes straight to classification; anything else (lists, wrappers, v1beta1)
        // through the `Value`-based shapes.
        // An audit event's root keys, where the parse found them. Its position is written only
        // if it needs one, for want of an `auditID`.
        let numbers = self.audit_root.filter(|_| doc.root().is_object());
        if let Some(numbers) = numbers {
            let found = numbers.map(|n| root.value_at(n).map(|at| doc.root().node_at(at)));
            let audit = kinds::audit::identify_plain_found(found, || {
                set_position(position, origin, line);
                Arc::from(position.as_str())
            });
            if let Some(identity) = audit {
                let event =
                    identity.map(|identity| Event::identified(doc, KindId::AUDIT, identity));
                self.classified(event, origin, line, out);
                return;
            }
        }
        set_position(position, origin, line);
        // The audit kind, when it declined above, is not asked again.
        let identified = match numbers {
            Some(_) => kinds::identify_plain_not_audit(doc.root(), position),
            None => kinds::identify_plain(doc.root(), position),
        };
        if let Some((kind, identity)) = identified {
            let event = identity.map(|identity| Event::identified(doc, kind, identity));
            self.classified(event, origin, line, out);
            return;
        }
        self.value(doc.to_value(), origin, line, position, out);
    }

    /// One JSON document: an event, or (as `read_documents` does) an array or `EventList` of
    /// them.
    fn value(
        &self,
        value: Value,
        origin: &Arc<str>,
        line: u64,
        position: &mut String,
        out: &mut Decoded,
    ) {
        match value {
            Value::Array(items) => {
                for item in items {
                    self.event(item, origin, line, position, out);
                }
            }
            Value::Object(mut map)
                if map.get("kind").and_then(Value::as_str) == Some("EventList")
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = map.remove("items") {
                    for item in items {
                        self.event(item, origin, line, position, out);
                    }
                }
            }
            value => self.event(value, origin, line, position, out),
        }
    }

    fn event(
        &self,
        value: Value,
        origin: &Arc<str>,
        line: u64,
        position: &mut String,
        out: &mut Decoded,
    ) {
        let value = match shapes::normalize(value, &|text| self.parse(text)) {
            Ok((value, _)) => value,
            Err(bad) => {
                out.problems.push(Problem {
                    origin: Arc::clone(origin),
                    line,
                    kind: ProblemKind::Malformed,
                    message: bad.message,
                });
                return;
            }
        };
        set_position(position, origin, line);
        self.classified(Event::classify(value, position), origin, line, out);
    }

    /// Keeps an event of a source the ruleset evaluates; reports anything else.
    fn classified(
        &self,
        classified: Result<Event, NotAnEvent>,
        origin: &Arc<str>,
        line: u64,
        out: &mut Decoded,
    ) {
        let problem = |kind, message| Problem {
            origin: Arc::clone(origin),
            line,
            kind,
            message,
        };
        match classified {
            Ok(event) if self.accepted.contains(event.kind) => out.events.push(event),
            Ok(event) => out.problems.push(problem(
                ProblemKind::Skipped,
                format!(
                    "a {} event, and no rule of the ruleset evaluates `source {}`",
                    event.kind.name(),
                    event.kind.name()
                ),
            )),
            Err(not) => out.problems.push(problem(ProblemKind::Skipped, not.reason)),
        }
    }
}

/// The numbers of [`kinds::audit::ROOT_KEYS`] among the children of `trie`'s root, if each is
/// there with a number [`json::RootMembers`] notes.
fn audit_root_numbers(trie: &Trie) -> Option<[KeyNumber; kinds::audit::ROOT_KEYS.len()]> {
    let mut numbers = [KeyNumber(0); kinds::audit::ROOT_KEYS.len()];
    for (number, key) in numbers.iter_mut().zip(kinds::audit::ROOT_KEYS) {
        *number = trie
            .key_number(Trie::ROOT, key)
            .filter(|n| (n.0 as usize) < json::ROOT_MEMBERS)?;
    }
    Some(numbers)
}

/// `origin:line` into `position`.
fn set_position(position: &mut String, origin: &str, line: u64) {
    position.clear();
    position.push_str(origin);
    position.push(':');
    push_decimal(position, line);
}

/// `write!(out, "{n}")` without the formatting machinery, which showed in profiles (it runs for
/// every event).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

fn accepted(ruleset: &Ruleset) -> KindSet {
    KindId::all()
        .filter(|k| ruleset.accepts(*k))
        .fold(KindSet::EMPTY, KindSet::with)
}

/// The projection of `ruleset`, or `None` when some path has no key to start from (it would
/// need the whole event).
fn projection_for(ruleset: &Ruleset) -> Option<Trie> {
    let mut paths: Vec<Vec<&str>> = Vec::new();
    for path in ruleset.field_paths() {
        let keys: Vec<&str> = path.key_prefix().collect();
        if keys.is_empty() {
            return None;
        }
        paths.push(keys);
    }
    paths.extend(kinds::projection_keys());
    paths.extend(DECODER_KEYS.iter().map(|k| k.to_vec()));
    Some(build_trie(&paths))
}

/// The trie for documents whose events are read at `paths`: the paths themselves (raw events,
/// at the top), and the same paths where each wrapper shape keeps its event.
fn build_trie(paths: &[Vec<&str>]) -> Trie {
    let mut trie = Trie::new();
    let root = Trie::ROOT;
    insert_event(&mut trie, root, paths);
    for keys in shapes::WRAPPER_KEYS {
        trie.insert(root, keys);
    }
    // Elastic Agent: the event under `kubernetes.audit`, annotation keys renamed `.` -> `_`.
    if let Some(node) = trie.node_at(root, &["kubernetes", "audit"]) {
        insert_event(&mut trie, node, paths);
        for p in paths
            .iter()
            .filter(|p| p.len() > 1 && p[0] == "annotations")
        {
            let renamed = p[1].replace('.', "_");
            let mut keys = p.clone();
            keys[1] = &renamed;
            trie.insert(node, &keys);
        }
    }
    // Fluent Bit / Fluentd: the event as a JSON string in `log`, parsed again from the root.
    if let Some(node) = trie.node_at(root, &["log"]) {
        trie.set_keep_scalars(node);
    }
    // AKS: `properties.log`, an event object or a JSON string.
    if let Some(node) = trie.node_at(root, &["properties", "log"]) {
        trie.set_keep_scalars(node);
        insert_event(&mut trie, node, paths);
    }
    // GKE: `request`, `response` and `labels` hold what the event calls `requestObject`,
    // `responseObject` and `annotations`.
    for (event_key, wrapper) in [
        ("requestObject", &["protoPayload", "request"][..]),
        ("responseObject", &["protoPayload", "response"][..]),
        ("annotations", &["labels"][..]),
    ] {
        for p in paths.iter().filter(|p| p[0] == event_key) {
            let keys: Vec<&str> = wrapper.iter().chain(&p[1..]).copied().collect();
            trie.insert(root, &keys);
        }
    }
    // An `EventList` on one line: its items are documents.
    trie.link(root, "items", root);
    trie
}

fn insert_event(trie: &mut Trie, node: NodeId, paths: &[Vec<&str>]) {
    for p in paths {
        trie.insert(node, p);
    }
}

/// The message for a line that is not JSON. The position is left out: the problem names the line,
/// and a column within a line of the event is of no help to whoever reads the report.
fn plain_json_error(err: &JsonError) -> String {
    format!("malformed JSON: {}", err.message())
}

/// Bounded deduplication of audit events on (`auditID`, `stage`): the same request's event seen
/// twice (two shippers, a file read again) is dropped. It remembers the last `capacity` keys
/// and forgets the oldest first, so the result depends only on the order of events.
#[derive(Debug)]
pub struct Dedup {
    capacity: usize,
    /// Keys of (auditID, stage) (see [`dedup_key`]): no allocation per event on the engine's
    /// thread.
    seen: HashSet<u64, FastHash>,
    order: VecDeque<u64>,
}

impl Dedup {
    /// How many keys `run` (and so `test-rule` and `test` blocks, which must drop exactly what
    /// `run` drops) remember.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A deduplicator remembering the last `capacity` keys (0 turns deduplication off).
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            capacity,
            seen: HashSet::with_capacity_and_hasher(capacity.min(1 << 16), FastHash::default()),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
        }
    }

    /// True when this event was already seen (and so must be dropped). Events without an
    /// `auditID` are never duplicates.
    pub fn is_duplicate(&mut self, event: &Event) -> bool {
        let Some(key) = event.dedup_key else {
            return false;
        };
        if self.capacity == 0 {
            return false;
        }
        // One probe of the set for the common case, a new key (the oldest is then forgotten:
        // it cannot be the new key, which was not in the set).
        if !self.seen.insert(key) {
            return true;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(key);
        false
    }

    /// How many keys it remembers now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when it remembers no key.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The keys it remembers and the hash key they were made with, for a checkpoint: a
    /// [`Dedup::restore`]d window recognises the copies of the events seen before it.
    ///
    /// The state holds the process's secret hash key: whoever reads it could craft an event
    /// that passes for another one. It belongs where the alerts are (the user's own state index),
    /// not in logs.
    pub fn snapshot(&self) -> DedupState {
        let (k0, k1) = dedup_hash_key().parts();
        let mut keys = String::with_capacity(self.order.len() * 16);
        for key in &self.order {
            keys.push_str(&hex64(*key));
        }
        DedupState {
            version: DEDUP_STATE_VERSION,
            hash_key: format!("{}{}", hex64(k0), hex64(k1)),
            keys,
        }
    }

    /// A window of `capacity` keys holding the saved keys (the newest `capacity` of them), whose
    /// events are hashed with the saved hash key from now on in this process.
    ///
    /// The hash key is the process's: it can only be installed before any event is decoded
    /// (otherwise [`StateError::DedupKeyInUse`]), unless it is the key already in use (a state
    /// saved by this same process) or the state holds no keys.
    pub fn restore(capacity: usize, state: DedupState) -> Result<Dedup, StateError> {
        check_version(
            DEDUP_WHAT,
            DEDUP_STATE_VERSION,
            Some(u64::from(state.version)),
        )?;
        let bad = |message: String| StateError::Corrupt {
            what: DEDUP_WHAT,
            message,
        };
        let hash_key = match (
            state.hash_key.get(..16).and_then(parse_hex64),
            state.hash_key.get(16..).and_then(parse_hex64),
        ) {
            (Some(k0), Some(k1)) => SipKey::new(k0, k1),
            _ => return Err(bad("its `hash_key` is not 32 hex digits".into())),
        };
        let chunks = state.keys.as_bytes().chunks_exact(16);
        if !chunks.remainder().is_empty() {
            return Err(bad(format!(
                "its `keys` has {} characters, not a multiple of 16",
                state.keys.len()
            )));
        }
        let mut keys = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.enumerate() {
            let key = std::str::from_utf8(chunk).ok().and_then(parse_hex64);
            match key {
                Some(key) => keys.push(key),
                None => return Err(bad(format!("key {} of `keys` is not 16 hex digits", i + 1))),
            }
        }
        let mut dedup = Dedup::new(capacity);
        let newest = keys.len().saturating_sub(capacity);
        for key in &keys[newest..] {
            if !dedup.seen.insert(*key) {
                return Err(bad("a key appears twice in `keys`".into()));
            }
            dedup.order.push_back(*key);
        }
        // Keys made with another hash key would never match again: the saved key must be the one
        // this process hashes with.
        if !dedup.is_empty() && *DEDUP_HASH_KEY.get_or_init(|| hash_key) != hash_key {
            return Err(StateError::DedupKeyInUse);
        }
        Ok(dedup)
    }
}

/// The version of the [`DedupState`] format this build writes and reads.
pub const DEDUP_STATE_VERSION: u32 = 1;

const DEDUP_WHAT: &str = "deduplication state";

/// What a [`Dedup`] remembers, as [`Dedup::snapshot`] takes it; serde (JSON) serializable.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DedupState {
    /// Always first, so that it is read before anything else of the document.
    version: u32,
    /// The SipHash key the keys were made with, 32 hex digits.
    hash_key: String,
    /// The keys, oldest first, 16 hex digits each, one after the other (a fraction of the size of
    /// a JSON array of strings; a window is 100,000 keys).
    keys: String,
}

impl std::fmt::Debug for DedupState {
    /// Leaves the hash key out: it is what keeps deduplication keys unforgeable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupState")
            .field("version", &self.version)
            .field("keys", &(self.keys.len() / 16))
            .finish_non_exhaustive()
    }
}

impl DedupState {
    /// Reads a state from JSON text: the version first, then the rest.
    pub fn from_json(text: &str) -> Result<DedupState, StateError> {
        check_version(
            DEDUP_WHAT,
            DEDUP_STATE_VERSION,
            version_of(DEDUP_WHAT, text)?,
        )?;
        serde_json::from_str(text).map_err(|e| corrupt(DEDUP_WHAT, e))
    }

    /// Reads a state from a JSON value: the version first, then the rest.
    pub fn from_value(value: serde_json::Value) -> Result<DedupState, StateError> {
        check_version(
            DEDUP_WHAT,
            DEDUP_STATE_VERSION,
            version_in(DEDUP_WHAT, &value)?,
        )?;
        serde_json::from_value(value).map_err(|e| corrupt(DEDUP_WHAT, e))
    }

    /// The number of keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len() / 16
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
