//! Field mappings (explicit from `_index_template` or `PUT /{index}`, and dynamic) and turning a
//! document's `_source` into typed, searchable field values, as Elasticsearch's document parser
//! does: objects and dotted keys both make dotted field paths, arrays are flattened, values that
//! do not fit the field's type are rejected with `mapper_parsing_exception`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::date::{DateFormat, Instant};
use super::errors::{exception, EsError, EsResult};

/// A field's type, as far as searching and sorting need it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// Analyzed text (`text`, `match_only_text`): a term query matches one of its tokens.
    Text,
    /// An exact value (`keyword`, `constant_keyword`, `wildcard`, and `ip`, compared as text).
    Keyword {
        ignore_above: Option<usize>,
    },
    Long,
    Double,
    /// `date` (millisecond precision) or `date_nanos`, with the format that reads its values.
    Date {
        nanos: bool,
        format: DateFormat,
    },
    Boolean,
    /// `flattened`: every leaf under the field is a keyword of the field and of `field.key`.
    Flattened,
    Object,
}

impl FieldType {
    /// The type's name in `GET /{index}/_mapping`.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword { .. } => "keyword",
            FieldType::Long => "long",
            FieldType::Double => "float",
            FieldType::Date { nanos: false, .. } => "date",
            FieldType::Date { nanos: true, .. } => "date_nanos",
            FieldType::Boolean => "boolean",
            FieldType::Flattened => "flattened",
            FieldType::Object => "object",
        }
    }
}

/// What to do with a field the mapping does not know (`dynamic` at the mapping's root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    True,
    False,
    Strict,
}

/// One index's mapping: every field path with its type; multi-fields are paths of their own
/// (`message.keyword`).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub fields: BTreeMap<String, FieldType>,
    pub dynamic: Dynamic,
}

impl Default for Mapping {
    fn default() -> Mapping {
        Mapping {
            fields: BTreeMap::new(),
            dynamic: Dynamic::True,
        }
    }
}

/// A searchable value of one field of one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Indexed {
    Long(i64),
    Double(f64),
    Date(Instant),
    Bool(bool),
    Keyword(String),
    /// The tokens of a text value.
    Text(Vec<String>),
}

/// The typed values of a document, by field path.
pub type Fields = HashMap<String, Vec<Indexed>>;

impl Mapping {
    /// Reads `{"dynamic":..,"properties":{..}}` as `PUT /{index}` and `_index_template` take it.
    pub fn from_json(mappings: &Value) -> EsResult<Mapping> {
        let mut mapping = Mapping::default();
        let Some(obj) = mappings.as_object() else {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                "Failed to parse mapping: mappings must be an object",
            ));
        };
        for (key, value) in obj {
            match key.as_str() {
                "properties" => mapping.read_properties("", value)?,
                "dynamic" => {
                    mapping.dynamic = match value {
                        Value::Bool(true) => Dynamic::True,
                        Value::Bool(false) => Dynamic::False,
                        Value::String(s) if s == "true" => Dynamic::True,
                        Value::String(s) if s == "false" => Dynamic::False,
                        Value::String(s) if s == "strict" => Dynamic::Strict,
                        other => {
                            return Err(EsError::new(
                                400,
                                "mapper_parsing_exception",
                                &format!("Failed to parse mapping: Could not convert [dynamic] to boolean: [{other}]"),
                            ))
                        }
                    }
                }
                // Accepted and without effect on searching here.
                "_source" | "_meta" | "date_detection" | "numeric_detection" | "_routing" => {}
                other => {
                    return Err(EsError::unsupported(&format!("the mapping parameter [{other}]")));
                }
            }
        }
        Ok(mapping)
    }

    fn read_properties(&mut self, prefix: &str, properties: &Value) -> EsResult<()> {
        let Some(props) = properties.as_object() else {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                &format!("Failed to parse mapping: [properties] of [{prefix}] must be an object"),
            ));
        };
        for (name, def) in props {
            let path = join(prefix, name);
            let ty_name = def.get("type").and_then(Value::as_str);
            if ty_name.is_none() || ty_name == Some("object") {
                self.fields.insert(path.clone(), FieldType::Object);
                if let Some(inner) = def.get("properties") {
                    self.read_properties(&path, inner)?;
                }
                continue;
            }
            let ty = field_type(ty_name.unwrap_or_default(), def, &path)?;
            self.fields.insert(path.clone(), ty);
            if let Some(subfields) = def.get("fields").and_then(Value::as_object) {
                for (sub, sub_def) in subfields {
                    let sub_name = sub_def
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object");
                    let sub_path = format!("{path}.{sub}");
                    let sub_ty = field_type(sub_name, sub_def, &sub_path)?;
                    self.fields.insert(sub_path, sub_ty);
                }
            }
        }
        Ok(())
    }

    /// `{"properties": {...}}` as `GET /{index}/_mapping` shows it.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        for (path, ty) in &self.fields {
            // Multi-fields print under their parent's `fields`.
            if let Some((parent, sub)) = path.rsplit_once('.') {
                if self
                    .fields
                    .get(parent)
                    .is_some_and(|p| *p != FieldType::Object)
                {
                    let parent_def = lookup_mut(&mut root, parent);
                    let mut def = type_json(ty);
                    def.remove("fields");
                    parent_def
                        .entry("fields")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("fields is an object")
                        .insert(sub.into(), Value::Object(def));
                    continue;
                }
            }
            let def = lookup_mut(&mut root, path);
            for (k, v) in type_json(ty) {
                def.entry(k).or_insert(v);
            }
        }
        let mut out = json!({"properties": Value::Object(root)});
        if self.dynamic != Dynamic::True {
            out["dynamic"] = json!(match self.dynamic {
                Dynamic::False => "false",
                _ => "strict",
            });
        }
        out
    }

    /// Parses `source` into typed field values, adding dynamic mappings; on a value the mapping
    /// rejects, nothing changes and the error is the one Elasticsearch gives for document `id`.
    pub fn index(&mut self, id: &str, source: &Value) -> EsResult<Fields> {
        let Some(obj) = source.as_object() else {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                "failed to parse, document is empty",
            ));
        };
        let mut added: BTreeMap<String, FieldType> = BTreeMap::new();
        let mut fields = Fields::new();
        for (key, value) in obj {
            self.parse_value(id, key, value, &mut added, &mut fields)?;
        }
        self.fields.extend(added);
        Ok(fields)
    }

    fn type_of(&self, path: &str, added: &BTreeMap<String, FieldType>) -> Option<FieldType> {
        added.get(path).or_else(|| self.fields.get(path)).cloned()
    }

    /// The `flattened` field that `path` is inside of, if any.
    fn flattened_parent(&self, path: &str) -> Option<String> {
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('.') {
            if self.fields.get(parent) == Some(&FieldType::Flattened) {
                return Some(parent.to_string());
            }
            at = parent;
        }
        None
    }

    fn parse_value(
        &self,
        id: &str,
        path: &str,
        value: &Value,
        added: &mut BTreeMap<String, FieldType>,
        fields: &mut Fields,
    ) -> EsResult<()> {
        if let Some(root) = self.flattened_parent(path) {
            if !self.fields.contains_key(path) {
                flatten_leaves(&root, path, value, fields);
                return Ok(());
            }
        }
        match value {
            Value::Null => Ok(()),
            Value::Array(items) => {
                for item in items {
                    self.parse_value(id, path, item, added, fields)?;
                }
                Ok(())
            }
            Value::Object(obj) => match self.type_of(path, added) {
                Some(FieldType::Object) => {
                    for (k, v) in obj {
                        self.parse_value(id, &format!("{path}.{k}"), v, added, fields)?;
                    }
                    Ok(())
                }
                Some(FieldType::Flattened) => {
                    flatten_leaves(path, path, value, fields);
                    Ok(())
                }
                Some(ty) => Err(parse_failure(id, path, &ty, value, None)),
                None => {
                    if !self.may_add(path, added)? {
                        return Ok(());
                    }
                    self.ensure_objects(path, added)?;
                    added.insert(path.to_string(), FieldType::Object);
                    for (k, v) in obj {
                        self.parse_value(id, &format!("{path}.{k}"), v, added, fields)?;
                    }
                    Ok(())
                }
            },
            leaf => {
                let ty = match self.type_of(path, added) {
                    Some(FieldType::Object) => {
                        return Err(EsError::new(
                            400,
                            "mapper_parsing_exception",
                            &format!(
                                "object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
                            ),
                        ))
                    }
                    Some(ty) => ty,
                    None => {
                        if !self.may_add(path, added)? {
                            return Ok(());
                        }
                        self.ensure_objects(path, added)?;
                        let ty = dynamic_type(leaf);
                        added.insert(path.to_string(), ty.clone());
                        if ty == FieldType::Text {
                            added.insert(
                                format!("{path}.keyword"),
                                FieldType::Keyword {
                                    ignore_above: Some(256),
                                },
                            );
                        }
                        ty
                    }
                };
                let v = typed(id, path, &ty, leaf)?;
                // Keywords longer than `ignore_above` are kept in `_source` but not indexed.
                let too_long = matches!(ty, FieldType::Keyword { ignore_above: Some(limit) }
                    if leaf.as_str().is_some_and(|s| s.chars().count() > limit));
                if !too_long {
                    fields.entry(path.to_string()).or_default().push(v);
                }
                // Multi-fields of this field index the same value with their own type.
                let prefix = format!("{path}.");
                let under = |m: &BTreeMap<String, FieldType>| -> Vec<(String, FieldType)> {
                    m.range(prefix.clone()..)
                        .take_while(|(p, _)| p.starts_with(&prefix))
                        .filter(|(p, _)| !p[prefix.len()..].contains('.'))
                        .map(|(p, t)| (p.clone(), t.clone()))
                        .collect()
                };
                let mut subs = under(&self.fields);
                subs.extend(under(added));
                for (sub_path, sub_ty) in subs {
                    if let FieldType::Keyword {
                        ignore_above: Some(limit),
                    } = sub_ty
                    {
                        if leaf.as_str().is_some_and(|s| s.chars().count() > limit) {
                            continue;
                        }
                    }
                    if let Ok(v) = typed(id, &sub_path, &sub_ty, leaf) {
                        fields.entry(sub_path).or_default().push(v);
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether a new field may be added under `dynamic`; `strict` rejects the document.
    fn may_add(&self, path: &str, _added: &BTreeMap<String, FieldType>) -> EsResult<bool> {
        match self.dynamic {
            Dynamic::True => Ok(true),
            Dynamic::False => Ok(false),
            Dynamic::Strict => {
                let (parent, leaf) = path.rsplit_once('.').unwrap_or(("_doc", path));
                Err(EsError::new(
                    400,
                    "strict_dynamic_mapping_exception",
                    &format!(
                        "[{parent}] mapping set to strict, dynamic introduction of [{leaf}] within [{parent}] is not allowed"
                    ),
                ))
            }
        }
    }

    /// Makes every proper prefix of `path` an object field (dotted keys imply objects).
    fn ensure_objects(&self, path: &str, added: &mut BTreeMap<String, FieldType>) -> EsResult<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            prefix = join(&prefix, part);
            match self.type_of(&prefix, added) {
                None => {
                    added.insert(prefix.clone(), FieldType::Object);
                }
                Some(FieldType::Object) => {}
                Some(other) => {
                    return Err(EsError::new(
                        400,
                        "illegal_argument_exception",
                        &format!(
                            "Could not dynamically add mapping for field [{path}]. Existing mapping for [{prefix}] must be of type object but found [{}].",
                            other.name()
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Every leaf under a `flattened` field, as keywords of the field and of `field.key.path`.
fn flatten_leaves(root: &str, path: &str, value: &Value, fields: &mut Fields) {
    match value {
        Value::Null => {}
        Value::Array(items) => items
            .iter()
            .for_each(|v| flatten_leaves(root, path, v, fields)),
        Value::Object(obj) => {
            for (k, v) in obj {
                flatten_leaves(root, &format!("{path}.{k}"), v, fields);
            }
        }
        leaf => {
            let text = keyword_text(leaf);
            fields
                .entry(root.to_string())
                .or_default()
                .push(Indexed::Keyword(text.clone()));
            if path != root {
                fields
                    .entry(path.to_string())
                    .or_default()
                    .push(Indexed::Keyword(text));
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn lookup_mut<'a>(root: &'a mut Map<String, Value>, path: &str) -> &'a mut Map<String, Value> {
    let mut parts = path.split('.').peekable();
    let mut map = root;
    loop {
        let part = parts.next().expect("paths are not empty");
        let entry = map.entry(part).or_insert_with(|| json!({}));
        let obj = entry.as_object_mut().expect("mapping nodes are objects");
        if parts.peek().is_none() {
            return obj;
        }
        map = obj
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("properties is an object");
    }
}

fn type_json(ty: &FieldType) -> Map<String, Value> {
    let mut m = Map::new();
    match ty {
        FieldType::Object => {}
        FieldType::Keyword {
            ignore_above: Some(n),
        } => {
            m.insert("type".into(), "keyword".into());
            m.insert("ignore_above".into(), (*n).into());
        }
        other => {
            m.insert("type".into(), other.name().into());
        }
    }
    m
}

fn field_type(name: &str, def: &Value, path: &str) -> EsResult<FieldType> {
    Ok(match name {
        "text" | "match_only_text" => FieldType::Text,
        "keyword" | "constant_keyword" | "wildcard" | "ip" | "version" => FieldType::Keyword {
            ignore_above: def
                .get("ignore_above")
                .and_then(Value::as_u64)
                .map(|n| n as usize),
        },
        "long" | "integer" | "short" | "byte" | "unsigned_long" => FieldType::Long,
        "double" | "float" | "half_float" | "scaled_float" => FieldType::Double,
        "date" | "date_nanos" => {
            let format = match def.get("format").and_then(Value::as_str) {
                None => DateFormat::Default,
                Some(f) => DateFormat::from_name(f).ok_or_else(|| {
                    EsError::unsupported(&format!("the date format [{f}] of field [{path}]"))
                })?,
            };
            FieldType::Date {
                nanos: name == "date_nanos",
                format,
            }
        }
        "boolean" => FieldType::Boolean,
        "flattened" => FieldType::Flattened,
        "nested" | "alias" | "join" | "percolator" => {
            return Err(EsError::unsupported(&format!(
                "the field type [{name}] (field [{path}])"
            )))
        }
        other => {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                &format!("No handler for type [{other}] declared on field [{path}]"),
            ))
        }
    })
}

/// The type dynamic mapping gives a new field: strings that read as `strict_date_optional_time`
/// become dates (date detection), other strings text with a `keyword` multi-field, integers
/// `long`, other numbers `float`.
fn dynamic_type(value: &Value) -> FieldType {
    match value {
        Value::Bool(_) => FieldType::Boolean,
        Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Long,
        Value::Number(_) => FieldType::Double,
        Value::String(s) if super::date::parse_date_optional_time(s).is_some() => FieldType::Date {
            nanos: false,
            format: DateFormat::Default,
        },
        _ => FieldType::Text,
    }
}

/// A leaf value as the text a keyword field stores.
pub fn keyword_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Java's `Map.toString` style preview Elasticsearch puts into parse errors.
fn preview(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(obj) => {
            let inner: Vec<String> = obj
                .iter()
                .map(|(k, v)| format!("{k}={}", preview(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

fn parse_failure(
    id: &str,
    path: &str,
    ty: &FieldType,
    value: &Value,
    cause: Option<Map<String, Value>>,
) -> EsError {
    let mut e = exception(
        "mapper_parsing_exception",
        &format!(
            "failed to parse field [{path}] of type [{}] in document with id '{id}'. Preview of field's value: '{}'",
            ty.name(),
            preview(value)
        ),
    );
    if let Some(cause) = cause {
        e.insert("caused_by".into(), Value::Object(cause));
    }
    EsError::from_exception(400, e)
}

/// A leaf value as a value of type `ty`.
fn typed(id: &str, path: &str, ty: &FieldType, value: &Value) -> EsResult<Indexed> {
    let fail = |cause| parse_failure(id, path, ty, value, cause);
    match ty {
        FieldType::Text => Ok(Indexed::Text(analyze(&keyword_text(value)))),
        FieldType::Keyword { .. } | FieldType::Flattened => {
            Ok(Indexed::Keyword(keyword_text(value)))
        }
        FieldType::Long => number(value)
            .filter(|f| f.is_finite())
            .map(|f| Indexed::Long(f.trunc() as i64))
            .or_else(|| value.as_i64().map(Indexed::Long))
            .ok_or_else(|| {
                fail(Some(exception(
                    "illegal_argument_exception",
                    &format!("For input string: \"{}\"", keyword_text(value)),
                )))
            }),
        FieldType::Double => number(value).map(Indexed::Double).ok_or_else(|| {
            fail(Some(exception(
                "number_format_exception",
                &format!("For input string: \"{}\"", keyword_text(value)),
            )))
        }),
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(Indexed::Bool(*b)),
            Value::String(s) if s == "true" => Ok(Indexed::Bool(true)),
            Value::String(s) if s == "false" || s.is_empty() => Ok(Indexed::Bool(false)),
            other => Err(fail(Some(exception(
                "illegal_argument_exception",
                &format!(
                    "Failed to parse value [{}] as only [true] or [false] are allowed.",
                    keyword_text(other)
                ),
            )))),
        },
        FieldType::Date { nanos, format } => {
            let parsed = match value {
                Value::String(s) => format.parse(s),
                Value::Number(n) => n
                    .as_i64()
                    .map(Instant::from_millis)
                    .or_else(|| super::date::parse_epoch_millis(&n.to_string())),
                _ => None,
            };
            match parsed {
                Some(i) if *nanos => Ok(Indexed::Date(i)),
                Some(i) => Ok(Indexed::Date(Instant::from_millis(i.millis()))),
                None => {
                    let mut cause = exception(
                        "illegal_argument_exception",
                        &format!(
                            "failed to parse date field [{}] with format [strict_date_optional_time||epoch_millis]",
                            keyword_text(value)
                        ),
                    );
                    cause.insert(
                        "caused_by".into(),
                        Value::Object(exception(
                            "date_time_parse_exception",
                            "Failed to parse with all enclosed parsers",
                        )),
                    );
                    Err(fail(Some(cause)))
                }
            }
        }
        FieldType::Object => Err(fail(None)),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// An approximation of the `standard` analyzer: Unicode word boundaries (letters, digits and `_`
/// make words; `.` and `'` join letters or digits, `:` joins letters, `,` joins digits), lowercased.
pub fn analyze(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let joins = !current.is_empty()
            && match c {
                '.' | '\'' | '\u{2019}' => {
                    prev.is_some_and(char::is_alphanumeric)
                        && next.is_some_and(char::is_alphanumeric)
                }
                ':' => {
                    prev.is_some_and(char::is_alphabetic) && next.is_some_and(char::is_alphabetic)
                }
                ',' => {
                    prev.is_some_and(|p| p.is_ascii_digit())
                        && next.is_some_and(|n| n.is_ascii_digit())
                }
                _ => false,
            };
        if word(c) || joins {
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

#[test]
fn analyzer_keeps_words_like_the_standard_tokenizer() {
    assert_eq!(analyze("Hello, World"), ["hello", "world"]);
    assert_eq!(
        analyze("system:serviceaccount:kube-system"),
        ["system:serviceaccount:kube", "system"]
    );
    assert_eq!(
        analyze("k8s.io 1,000 foo_bar"),
        ["k8s.io", "1,000", "foo_bar"]
    );
}

#[test]
fn dynamic_mapping_and_rejections_follow_elasticsearch() {
    let mut m = Mapping::default();
    let f = m
        .index(
            "1",
            &json!({"a": {"b": "x"}, "a.c": 5, "t": "2024-01-01T00:00:00Z", "n": [1.5, null]}),
        )
        .unwrap();
    assert_eq!(m.fields["a"], FieldType::Object);
    assert_eq!(m.fields["a.b"], FieldType::Text);
    assert_eq!(
        m.fields["a.b.keyword"],
        FieldType::Keyword {
            ignore_above: Some(256)
        }
    );
    assert_eq!(m.fields["a.c"], FieldType::Long);
    assert_eq!(m.fields["n"], FieldType::Double);
    assert_eq!(f["a.b.keyword"], [Indexed::Keyword("x".into())]);
    assert_eq!(
        f["t"],
        [Indexed::Date(Instant::from_millis(1_704_067_200_000))]
    );
    // A value that does not fit: nothing of the document is mapped.
    let before = m.fields.len();
    assert!(m.index("2", &json!({"new": 1, "t": "soon"})).is_err());
    assert_eq!(m.fields.len(), before);
    assert!(m.index("3", &json!({"a": 1})).is_err());
    assert_eq!(
        m.to_json()["properties"]["a"]["properties"]["b"],
        json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
    );
}
