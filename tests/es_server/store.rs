//! The cluster's data: indices (mapping, documents, the refreshed view searches see), index
//! templates and point-in-time readers. One primary shard per index, primary term 1.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant as Clock};

use serde_json::{json, Map, Value};

use super::errors::{index_exception, EsError, EsResult};
use super::mapping::{Fields, Mapping};

/// A stored document version.
#[derive(Debug)]
pub struct Doc {
    pub id: String,
    pub source: Value,
    pub seq_no: i64,
    pub version: i64,
    pub fields: Fields,
}

/// What a write did, for the response.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub id: String,
    pub version: i64,
    pub seq_no: i64,
    /// `created`, `updated`, `deleted`, `not_found` or `noop`.
    pub result: &'static str,
    pub status: u16,
}

/// `?if_seq_no=&if_primary_term=`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch {
    pub seq_no: i64,
    pub primary_term: i64,
}

/// Whether an index write must create the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    Index,
    Create,
}

pub const PRIMARY_TERM: i64 = 1;

/// One index.
#[derive(Debug)]
pub struct Index {
    pub name: String,
    pub uuid: String,
    pub mapping: Mapping,
    pub settings: Value,
    /// The latest version of every live document, by internal doc id (write order).
    live: BTreeMap<u64, Arc<Doc>>,
    ids: HashMap<String, u64>,
    /// The last version of every id ever written, deleted ones too (Elasticsearch's tombstones).
    versions: HashMap<String, i64>,
    next_docid: u64,
    next_seq_no: i64,
    /// What searches see: the live documents as of the last refresh, in doc id order.
    pub searchable: Arc<Vec<Arc<Doc>>>,
    pub last_refresh: Clock,
    dirty: bool,
}

impl Index {
    pub fn new(name: &str, uuid: String, mapping: Mapping, settings: Value) -> Index {
        Index {
            name: name.to_string(),
            uuid,
            mapping,
            settings,
            live: BTreeMap::new(),
            ids: HashMap::new(),
            versions: HashMap::new(),
            next_docid: 0,
            next_seq_no: 0,
            searchable: Arc::new(Vec::new()),
            last_refresh: Clock::now(),
            dirty: false,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Doc>> {
        self.ids.get(id).and_then(|d| self.live.get(d))
    }

    /// Live documents in write order.
    pub fn docs(&self) -> impl Iterator<Item = &Arc<Doc>> {
        self.live.values()
    }

    pub fn refresh(&mut self) {
        if self.dirty {
            self.searchable = Arc::new(self.live.values().cloned().collect());
            self.dirty = false;
        }
        self.last_refresh = Clock::now();
    }

    /// Refreshes when the last refresh is older than `interval` (a search-idle shard refreshes
    /// before it searches).
    pub fn refresh_if_due(&mut self, interval: Option<Duration>) {
        if interval.is_some_and(|i| self.last_refresh.elapsed() >= i) {
            self.refresh();
        }
    }

    fn conflict(&self, reason: String) -> EsError {
        EsError::from_exception(
            409,
            index_exception(
                "version_conflict_engine_exception",
                &reason,
                &self.name,
                true,
            ),
        )
    }

    fn check_if_match(&self, id: &str, if_match: Option<IfMatch>) -> EsResult<()> {
        let Some(m) = if_match else { return Ok(()) };
        match self.get(id) {
            None => Err(self.conflict(
                format!(
                    "[{id}]: version conflict, required seqNo [{}], primary term [{}] but no document was found",
                    m.seq_no, m.primary_term
                ),
            )),
            Some(doc) if doc.seq_no != m.seq_no || m.primary_term != PRIMARY_TERM => Err(self.conflict(
                format!(
                    "[{id}]: version conflict, required seqNo [{}], primary term [{}]. current document has seqNo [{}] and primary term [{PRIMARY_TERM}]",
                    m.seq_no, m.primary_term, doc.seq_no
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Indexes (or creates) document `id` with `source`.
    pub fn write(
        &mut self,
        id: &str,
        source: Value,
        op: OpType,
        if_match: Option<IfMatch>,
    ) -> EsResult<WriteOutcome> {
        if op == OpType::Create {
            if let Some(doc) = self.get(id) {
                return Err(self.conflict(format!(
                    "[{id}]: version conflict, document already exists (current version [{}])",
                    doc.version
                )));
            }
        }
        self.check_if_match(id, if_match)?;
        let fields = self.mapping.index(id, &source)?;
        let existed = self.get(id).is_some();
        let version = self.versions.get(id).copied().unwrap_or(0) + 1;
        let seq_no = self.store_doc(id, source, version, fields);
        Ok(WriteOutcome {
            id: id.to_string(),
            version,
            seq_no,
            result: if existed { "updated" } else { "created" },
            status: if existed { 200 } else { 201 },
        })
    }

    fn store_doc(&mut self, id: &str, source: Value, version: i64, fields: Fields) -> i64 {
        let seq_no = self.next_seq_no;
        self.next_seq_no += 1;
        if let Some(old) = self.ids.remove(id) {
            self.live.remove(&old);
        }
        // An update is a delete and an add in Lucene: the new version gets a new doc id.
        let docid = self.next_docid;
        self.next_docid += 1;
        self.live.insert(
            docid,
            Arc::new(Doc {
                id: id.to_string(),
                source,
                seq_no,
                version,
                fields,
            }),
        );
        self.ids.insert(id.to_string(), docid);
        self.versions.insert(id.to_string(), version);
        self.dirty = true;
        seq_no
    }

    /// A partial update: `doc` merged into the current source (`upsert` or `doc` itself when the
    /// document is missing and `doc_as_upsert`).
    pub fn update(
        &mut self,
        id: &str,
        doc: &Value,
        upsert: Option<&Value>,
        doc_as_upsert: bool,
        if_match: Option<IfMatch>,
    ) -> EsResult<WriteOutcome> {
        self.check_if_match(id, if_match)?;
        let Some(current) = self.get(id).cloned() else {
            let initial = match (upsert, doc_as_upsert) {
                (Some(u), _) => u.clone(),
                (None, true) => doc.clone(),
                (None, false) => {
                    let e = index_exception(
                        "document_missing_exception",
                        &format!("[{id}]: document missing"),
                        &self.name,
                        true,
                    );
                    return Err(EsError::from_exception(404, e));
                }
            };
            return self.write(id, initial, OpType::Create, None);
        };
        let mut merged = current.source.clone();
        merge(&mut merged, doc);
        if merged == current.source {
            return Ok(WriteOutcome {
                id: id.to_string(),
                version: current.version,
                seq_no: current.seq_no,
                result: "noop",
                status: 200,
            });
        }
        self.write(id, merged, OpType::Index, None)
    }

    pub fn delete(&mut self, id: &str, if_match: Option<IfMatch>) -> EsResult<WriteOutcome> {
        self.check_if_match(id, if_match)?;
        let version = self.versions.get(id).copied().unwrap_or(0) + 1;
        let seq_no = self.next_seq_no;
        self.next_seq_no += 1;
        let found = match self.ids.remove(id) {
            Some(docid) => {
                self.live.remove(&docid);
                self.dirty = true;
                true
            }
            None => false,
        };
        self.versions.insert(id.to_string(), version);
        Ok(WriteOutcome {
            id: id.to_string(),
            version,
            seq_no,
            result: if found { "deleted" } else { "not_found" },
            status: if found { 200 } else { 404 },
        })
    }
}

/// Deep-merges `patch` into `target`, as a partial update does (objects merge, the rest replaces).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// A point-in-time reader: the documents of its indices as they were when it was opened.
#[derive(Debug, Clone)]
pub struct Pit {
    pub shards: Vec<Shard>,
    pub keep_alive: Duration,
    pub last_used: Clock,
}

/// What one search reads from one index.
#[derive(Debug, Clone)]
pub struct Shard {
    pub index: String,
    pub mapping: Mapping,
    pub docs: Arc<Vec<Arc<Doc>>>,
}

/// `ignore_unavailable`, `allow_no_indices`, `expand_wildcards`.
#[derive(Debug, Clone, Copy)]
pub struct IndicesOptions {
    pub ignore_unavailable: bool,
    pub allow_no_indices: bool,
    pub expand_wildcards: bool,
}

impl Default for IndicesOptions {
    fn default() -> IndicesOptions {
        IndicesOptions {
            ignore_unavailable: false,
            allow_no_indices: true,
            expand_wildcards: true,
        }
    }
}

/// Everything the server stores.
#[derive(Debug)]
pub struct Store {
    pub indices: BTreeMap<String, Index>,
    /// Index templates as stored (`index_patterns` normalized to an array).
    pub templates: BTreeMap<String, Value>,
    pub pits: HashMap<String, Pit>,
    pub refresh_interval: Option<Duration>,
    counter: u64,
    seed: u64,
}

/// `*` globbing, the only wildcard Elasticsearch index expressions have.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl Store {
    pub fn new(refresh_interval: Option<Duration>) -> Store {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32);
        Store {
            indices: BTreeMap::new(),
            templates: BTreeMap::new(),
            pits: HashMap::new(),
            refresh_interval,
            counter: 0,
            seed,
        }
    }

    /// A fresh opaque id of `len` URL-safe base64 characters (auto `_id`s, index uuids, PIT ids).
    pub fn new_id(&mut self, len: usize) -> String {
        use base64::Engine;
        self.counter += 1;
        let mut bytes = Vec::with_capacity(len);
        let mut x = self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The counter first, so ids sort roughly by creation like Elasticsearch's time-based ids.
        bytes.extend_from_slice(&self.counter.to_be_bytes());
        while bytes.len() * 4 < len * 3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        id.truncate(len);
        id
    }

    /// Creates `name` with `mapping`, or the mapping of the matching template of highest priority.
    pub fn create_index(
        &mut self,
        name: &str,
        mapping: Option<Mapping>,
        settings: Value,
    ) -> EsResult<&mut Index> {
        validate_index_name(name)?;
        if self.indices.contains_key(name) {
            let uuid = self.indices[name].uuid.clone();
            let mut e = index_exception(
                "resource_already_exists_exception",
                &format!("index [{name}/{uuid}] already exists"),
                name,
                false,
            );
            e.insert("index_uuid".into(), uuid.into());
            return Err(EsError::from_exception(400, e));
        }
        let (mapping, settings) = match mapping {
            Some(m) => (m, settings),
            None => match self.template_for(name) {
                Some(t) => {
                    let m = match t.pointer("/template/mappings") {
                        Some(m) => Mapping::from_json(m)?,
                        None => Mapping::default(),
                    };
                    let s = t
                        .pointer("/template/settings")
                        .cloned()
                        .unwrap_or(json!({}));
                    (m, s)
                }
                None => (Mapping::default(), settings),
            },
        };
        let uuid = self.new_id(22);
        self.indices
            .insert(name.to_string(), Index::new(name, uuid, mapping, settings));
        Ok(self.indices.get_mut(name).expect("just inserted"))
    }

    /// The index `name`, created (from templates) when it does not exist, as a write does.
    pub fn index_for_write(&mut self, name: &str) -> EsResult<&mut Index> {
        if !self.indices.contains_key(name) {
            self.create_index(name, None, json!({}))?;
        }
        Ok(self.indices.get_mut(name).expect("exists"))
    }

    /// The template whose `index_patterns` match `name`, highest `priority` first.
    fn template_for(&self, name: &str) -> Option<&Value> {
        self.templates
            .values()
            .filter(|t| {
                t["index_patterns"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().filter_map(Value::as_str).any(|p| glob(p, name)))
            })
            .max_by_key(|t| t.get("priority").and_then(Value::as_i64).unwrap_or(0))
    }

    /// Resolves an index expression (`a,b`, `logs-*`, `_all`, `-excluded`) to index names.
    pub fn resolve(&self, expression: &str, options: IndicesOptions) -> EsResult<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        let mut saw_wildcard = false;
        for part in expression
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if let Some(excluded) = part.strip_prefix('-').filter(|_| saw_wildcard) {
                names.retain(|n| !glob(excluded, n));
                continue;
            }
            if part == "_all" || part.contains('*') {
                saw_wildcard = true;
                if !options.expand_wildcards {
                    continue;
                }
                let pattern = if part == "_all" { "*" } else { part };
                for name in self.indices.keys() {
                    // Hidden-by-convention dot indices only match patterns that start with a dot.
                    if name.starts_with('.') && !pattern.starts_with('.') {
                        continue;
                    }
                    if glob(pattern, name) && !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            } else if self.indices.contains_key(part) {
                if !names.iter().any(|n| n == part) {
                    names.push(part.to_string());
                }
            } else if !options.ignore_unavailable {
                return Err(EsError::index_not_found(part));
            }
        }
        if names.is_empty() && !options.allow_no_indices {
            return Err(EsError::index_not_found(expression));
        }
        names.sort();
        Ok(names)
    }

    /// The shards a search over `names` reads now (refreshing those that are due).
    pub fn shards(&mut self, names: &[String]) -> Vec<Shard> {
        let interval = self.refresh_interval;
        let mut shards = Vec::new();
        for name in names {
            if let Some(index) = self.indices.get_mut(name) {
                index.refresh_if_due(interval);
                shards.push(Shard {
                    index: index.name.clone(),
                    mapping: index.mapping.clone(),
                    docs: index.searchable.clone(),
                });
            }
        }
        shards
    }

    /// Drops point-in-time readers whose keep-alive ran out.
    pub fn reap_pits(&mut self) {
        self.pits
            .retain(|_, p| p.last_used.elapsed() <= p.keep_alive);
    }
}

/// Elasticsearch's rules for index names.
pub fn validate_index_name(name: &str) -> EsResult<()> {
    let fail = |reason: &str| {
        Err(EsError::from_exception(
            400,
            index_exception(
                "invalid_index_name_exception",
                &format!("Invalid index name [{name}], {reason}"),
                name,
                false,
            ),
        ))
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    if name.chars().any(|c| c.is_uppercase()) {
        return fail("must be lowercase");
    }
    if name.starts_with(['_', '-', '+']) {
        return fail("must not start with '_', '-', or '+'");
    }
    if name.chars().any(|c| " \"*\\<|,>/?#:".contains(c)) {
        return fail("must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]");
    }
    if name == "." || name == ".." {
        return fail("must not be '.' or '..'");
    }
    if name.len() > 255 {
        return fail("index name is too long");
    }
    Ok(())
}

/// Converts a stored template into the form `GET /_index_template` shows.
pub fn template_json(name: &str, body: &Value) -> Value {
    json!({"name": name, "index_template": body})
}

/// Checks and normalizes a `PUT /_index_template/{name}` body.
pub fn normalize_template(body: &Value) -> EsResult<Value> {
    let Some(obj) = body.as_object() else {
        return Err(EsError::parsing("request body is required"));
    };
    let mut out = Map::new();
    for (key, value) in obj {
        match key.as_str() {
            "index_patterns" => {
                let patterns = match value {
                    Value::String(s) => vec![Value::String(s.clone())],
                    Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
                    _ => {
                        return Err(EsError::new(
                            400,
                            "x_content_parse_exception",
                            "[index_template] failed to parse field [index_patterns]",
                        ))
                    }
                };
                out.insert(key.clone(), Value::Array(patterns));
            }
            "template" => {
                if let Some(m) = value.get("mappings") {
                    Mapping::from_json(m)?;
                }
                if value
                    .get("aliases")
                    .and_then(Value::as_object)
                    .is_some_and(|a| !a.is_empty())
                {
                    return Err(EsError::unsupported("[aliases] in an index template"));
                }
                out.insert(key.clone(), value.clone());
            }
            "composed_of" => {
                if value.as_array().is_some_and(|a| !a.is_empty()) {
                    return Err(EsError::unsupported("[composed_of] (component templates)"));
                }
                out.insert(key.clone(), value.clone());
            }
            "data_stream" => return Err(EsError::unsupported("[data_stream] (data streams)")),
            "priority"
            | "version"
            | "_meta"
            | "allow_auto_create"
            | "ignore_missing_component_templates"
            | "deprecated" => {
                out.insert(key.clone(), value.clone());
            }
            other => {
                return Err(EsError::new(
                    400,
                    "x_content_parse_exception",
                    &format!("[1:2] [index_template] unknown field [{other}]"),
                ))
            }
        }
    }
    if !out.contains_key("index_patterns") {
        return Err(EsError::validation(&["index patterns are missing"]));
    }
    out.entry("composed_of").or_insert(json!([]));
    Ok(Value::Object(out))
}

#[test]
fn globs_and_index_expressions_resolve_like_elasticsearch() {
    assert!(glob("logs-*", "logs-2024.01.01"));
    assert!(glob("*.01", "logs-2024.01.01") && glob("l*0*1", "logs-2024.01.01"));
    assert!(!glob("logs-*", "alerts") && !glob("a*b*c", "acb"));
    let mut store = Store::new(None);
    for name in ["logs-a", "logs-b", "alerts", ".hidden"] {
        store.create_index(name, None, json!({})).unwrap();
    }
    let all = IndicesOptions::default();
    assert_eq!(store.resolve("logs-*,-logs-b", all).unwrap(), ["logs-a"]);
    assert_eq!(
        store.resolve("_all", all).unwrap(),
        ["alerts", "logs-a", "logs-b"]
    );
    assert_eq!(
        store.resolve("nothing-*", all).unwrap(),
        Vec::<String>::new()
    );
    assert!(store.resolve("missing", all).is_err());
    let lenient = IndicesOptions {
        ignore_unavailable: true,
        ..all
    };
    assert_eq!(
        store.resolve("missing,alerts", lenient).unwrap(),
        ["alerts"]
    );
    let strict = IndicesOptions {
        allow_no_indices: false,
        ..all
    };
    assert!(store.resolve("nothing-*", strict).is_err());
    assert!(validate_index_name("Logs").is_err() && validate_index_name("_x").is_err());
}
