//! `_search` and `_count`: the query DSL subset (match_all, match_none, bool, term, terms, match,
//! range, exists, ids), sorting (fields, `_score`, `_doc`, `_shard_doc`), `search_after`, `from`
//! and `size`, `track_total_hits` and `_source` filtering. Every match scores 1.0 (no relevance).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::date::{parse_now, DateFormat, Instant};
use super::errors::{exception, index_exception, EsError, EsResult};
use super::mapping::{analyze, keyword_text, FieldType, Indexed};
use super::store::{glob, Doc, Shard};

/// A parsed query.
#[derive(Debug, Clone)]
pub enum Query {
    MatchAll,
    MatchNone,
    Bool {
        must: Vec<Query>,
        filter: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        minimum_should_match: Option<usize>,
    },
    Term {
        field: String,
        value: Value,
        case_insensitive: bool,
    },
    Terms {
        field: String,
        values: Vec<Value>,
    },
    Match {
        field: String,
        query: Value,
        and: bool,
    },
    Range {
        field: String,
        /// gt, gte, lt, lte.
        bounds: [Option<Value>; 4],
        format: Option<DateFormat>,
    },
    Exists {
        field: String,
    },
    Ids {
        values: Vec<String>,
    },
}

/// The JSON token type Elasticsearch names in its parse errors.
fn token(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Null => "VALUE_NULL",
    }
}

/// The single `{field: params}` entry of a leaf query.
fn single_field<'a>(kind: &str, body: &'a Value) -> EsResult<(&'a String, &'a Value)> {
    let obj = body.as_object().ok_or_else(|| {
        EsError::parsing(&format!(
            "[{kind}] query malformed, no start_object after query name"
        ))
    })?;
    let mut fields = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "boost" && k.as_str() != "_name");
    let first = fields.next().ok_or_else(|| {
        EsError::parsing(&format!(
            "[{kind}] query doesn't support multiple fields, found none"
        ))
    })?;
    if let Some((second, _)) = fields.next() {
        return Err(EsError::parsing(&format!(
            "[{kind}] query doesn't support multiple fields, found [{}] and [{second}]",
            first.0
        )));
    }
    Ok(first)
}

fn query_list(kind: &str, v: &Value) -> EsResult<Vec<Query>> {
    match v {
        Value::Array(items) => items.iter().map(parse_query).collect(),
        Value::Object(_) => Ok(vec![parse_query(v)?]),
        other => Err(EsError::parsing(&format!(
            "[bool] query does not support [{kind}] of type {}",
            token(other)
        ))),
    }
}

/// Reads one query object.
pub fn parse_query(v: &Value) -> EsResult<Query> {
    let obj = v
        .as_object()
        .ok_or_else(|| EsError::parsing("[_na] query malformed, must start with start_object"))?;
    let mut entries = obj.iter();
    let Some((kind, body)) = entries.next() else {
        return Err(EsError::parsing("query malformed, empty clause found"));
    };
    if let Some((next, _)) = entries.next() {
        return Err(EsError::parsing(&format!(
            "[{kind}] malformed query, expected [END_OBJECT] but found [FIELD_NAME] ([{next}])"
        )));
    }
    match kind.as_str() {
        "match_all" => Ok(Query::MatchAll),
        "match_none" => Ok(Query::MatchNone),
        "bool" => {
            let obj = body.as_object().ok_or_else(|| {
                EsError::parsing("[bool] query malformed, no start_object after query name")
            })?;
            let (mut must, mut filter, mut should, mut must_not) = (vec![], vec![], vec![], vec![]);
            let mut minimum_should_match = None;
            for (k, v) in obj {
                match k.as_str() {
                    "must" => must = query_list(k, v)?,
                    "filter" => filter = query_list(k, v)?,
                    "should" => should = query_list(k, v)?,
                    "must_not" | "mustNot" => must_not = query_list(k, v)?,
                    "minimum_should_match" => {
                        let n = match v {
                            Value::Number(n) => n.as_u64().map(|n| n as usize),
                            Value::String(s) => s.parse().ok(),
                            _ => None,
                        };
                        minimum_should_match = Some(n.ok_or_else(|| {
                            EsError::unsupported(&format!(
                                "[minimum_should_match] value [{v}] (only whole numbers)"
                            ))
                        })?);
                    }
                    "boost" | "_name" | "adjust_pure_negative" => {}
                    other => {
                        return Err(EsError::parsing(&format!(
                            "[bool] query does not support [{other}]"
                        )))
                    }
                }
            }
            Ok(Query::Bool {
                must,
                filter,
                should,
                must_not,
                minimum_should_match,
            })
        }
        "term" => {
            let (field, params) = single_field(kind, body)?;
            let (value, case_insensitive) = match params {
                Value::Object(p) => {
                    for k in p.keys() {
                        if !["value", "boost", "case_insensitive", "_name"].contains(&k.as_str()) {
                            return Err(EsError::parsing(&format!(
                                "[term] query does not support [{k}]"
                            )));
                        }
                    }
                    let value = p
                        .get("value")
                        .cloned()
                        .ok_or_else(|| EsError::parsing("[term] query requires a [value]"))?;
                    (
                        value,
                        p.get("case_insensitive")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    )
                }
                Value::Array(_) => {
                    return Err(EsError::parsing(
                        "[term] query does not support array of values",
                    ))
                }
                other => (other.clone(), false),
            };
            if value.is_null() {
                return Err(EsError::bad_request("value cannot be null"));
            }
            Ok(Query::Term {
                field: field.clone(),
                value,
                case_insensitive,
            })
        }
        "terms" => {
            let (field, values) = single_field(kind, body)?;
            let values = values.as_array().cloned().ok_or_else(|| {
                EsError::parsing(&format!(
                    "[terms] query does not support [{field}] of type {}",
                    token(values)
                ))
            })?;
            Ok(Query::Terms {
                field: field.clone(),
                values,
            })
        }
        "match" => {
            let (field, params) = single_field(kind, body)?;
            let (query, and) = match params {
                Value::Object(p) => {
                    for k in p.keys() {
                        if !["query", "operator", "boost", "_name"].contains(&k.as_str()) {
                            return Err(EsError::unsupported(&format!("[{k}] in a [match] query")));
                        }
                    }
                    let and = match p.get("operator").and_then(Value::as_str) {
                        None => false,
                        Some(o) if o.eq_ignore_ascii_case("or") => false,
                        Some(o) if o.eq_ignore_ascii_case("and") => true,
                        Some(o) => {
                            return Err(EsError::bad_request(&format!(
                                "operator needs to be either [or] or [and], but was [{o}]"
                            )))
                        }
                    };
                    let query = p
                        .get("query")
                        .cloned()
                        .ok_or_else(|| EsError::parsing("No text specified for text query"))?;
                    (query, and)
                }
                other => (other.clone(), false),
            };
            Ok(Query::Match {
                field: field.clone(),
                query,
                and,
            })
        }
        "range" => {
            let (field, params) = single_field(kind, body)?;
            let p = params.as_object().ok_or_else(|| {
                EsError::parsing("[range] query malformed, after field missing start object")
            })?;
            let mut bounds: [Option<Value>; 4] = [None, None, None, None];
            let mut format = None;
            let (mut include_lower, mut include_upper) = (true, true);
            let (mut from, mut to) = (None, None);
            for (k, v) in p {
                let v = if v.is_null() { None } else { Some(v.clone()) };
                match k.as_str() {
                    "gt" => bounds[0] = v,
                    "gte" => bounds[1] = v,
                    "lt" => bounds[2] = v,
                    "lte" => bounds[3] = v,
                    "from" => from = v,
                    "to" => to = v,
                    "include_lower" => include_lower = p[k].as_bool().unwrap_or(true),
                    "include_upper" => include_upper = p[k].as_bool().unwrap_or(true),
                    "format" => {
                        let name = p[k].as_str().unwrap_or_default();
                        format = Some(DateFormat::from_name(name).ok_or_else(|| {
                            EsError::unsupported(&format!(
                                "the date format [{name}] in a [range] query"
                            ))
                        })?);
                    }
                    "time_zone" => {
                        let tz = p[k].as_str().unwrap_or_default();
                        if !["UTC", "Z", "+00:00", "Etc/UTC", "GMT"].contains(&tz) {
                            return Err(EsError::unsupported(&format!(
                                "[time_zone] [{tz}] other than UTC in a [range] query"
                            )));
                        }
                    }
                    "boost" | "_name" | "relation" => {}
                    other => {
                        return Err(EsError::parsing(&format!(
                            "[range] query does not support [{other}]"
                        )))
                    }
                }
            }
            if let Some(f) = from {
                bounds[if include_lower { 1 } else { 0 }] = Some(f);
            }
            if let Some(t) = to {
                bounds[if include_upper { 3 } else { 2 }] = Some(t);
            }
            Ok(Query::Range {
                field: field.clone(),
                bounds,
                format,
            })
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| EsError::parsing("[exists] must be provided with a [field]"))?;
            Ok(Query::Exists {
                field: field.to_string(),
            })
        }
        "ids" => {
            let values = body
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| EsError::parsing("[ids] query malformed, no [values]"))?;
            Ok(Query::Ids {
                values: values.iter().map(keyword_text).collect(),
            })
        }
        other => Err(EsError::unsupported(&format!("the [{other}] query"))),
    }
}

/// A query bound to one shard's mapping: values converted to the fields' types.
#[derive(Debug)]
enum Bound {
    All,
    Nothing,
    Bool {
        required: Vec<Bound>,
        should: Vec<Bound>,
        must_not: Vec<Bound>,
        minimum_should_match: usize,
    },
    /// Some value of `field` satisfies the predicate.
    Field {
        field: String,
        pred: Pred,
    },
    Exists(String),
    Ids(HashSet<String>),
}

#[derive(Debug)]
enum Pred {
    AnyOf(Vec<Indexed>),
    KeywordCaseless(String),
    /// A text field has the token.
    Token(String),
    /// A text field has all (or any) of the tokens.
    Tokens {
        tokens: Vec<String>,
        all: bool,
    },
    Range {
        lower: Option<(Indexed, bool)>,
        upper: Option<(Indexed, bool)>,
    },
}

/// A failure to turn a query value into a field's type: Elasticsearch's `query_shard_exception`.
fn shard_query_error(index: &str, reason: String) -> EsError {
    let mut cause = index_exception(
        "query_shard_exception",
        &format!("failed to create query: {reason}"),
        index,
        false,
    );
    cause.insert(
        "caused_by".into(),
        Value::Object(exception("illegal_argument_exception", &reason)),
    );
    EsError::shard_failure(400, cause, Some(index))
}

/// `value` as a value of a field of type `ty` (for term, terms, range bounds and missing values).
fn convert(
    ty: &FieldType,
    value: &Value,
    format: Option<DateFormat>,
    now: Instant,
) -> Result<Indexed, String> {
    let text = keyword_text(value);
    match ty {
        FieldType::Keyword { .. } | FieldType::Flattened | FieldType::Text => {
            Ok(Indexed::Keyword(text))
        }
        FieldType::Long | FieldType::Double => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            n.map(Indexed::Double)
                .ok_or_else(|| format!("For input string: \"{text}\""))
        }
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(Indexed::Bool(*b)),
            Value::String(s) if s == "true" => Ok(Indexed::Bool(true)),
            Value::String(s) if s == "false" => Ok(Indexed::Bool(false)),
            _ => Err(format!(
                "Can't parse boolean value [{text}], expected [true] or [false]"
            )),
        },
        FieldType::Date {
            nanos,
            format: field_format,
        } => {
            let instant = match value {
                Value::Number(n) => n
                    .as_i64()
                    .map(Instant::from_millis)
                    .or_else(|| super::date::parse_epoch_millis(&n.to_string())),
                Value::String(s) => match parse_now(s, now)? {
                    Some(i) => Some(i),
                    None => format.unwrap_or(*field_format).parse(s),
                },
                _ => None,
            };
            let instant = instant.ok_or_else(|| {
                format!(
                    "failed to parse date field [{text}] with format [{}]",
                    match format {
                        Some(DateFormat::EpochMillis) => "epoch_millis",
                        Some(DateFormat::OptionalTime) => "strict_date_optional_time",
                        Some(DateFormat::OptionalTimeNanos) => "strict_date_optional_time_nanos",
                        _ => "strict_date_optional_time||epoch_millis",
                    }
                )
            })?;
            Ok(Indexed::Date(if *nanos {
                instant
            } else {
                Instant::from_millis(instant.millis())
            }))
        }
        FieldType::Object => Err(format!("field [{text}] is an object")),
    }
}

fn bind(query: &Query, shard: &Shard, now: Instant) -> EsResult<Bound> {
    let mapping = &shard.mapping;
    let fail = |reason: String| shard_query_error(&shard.index, reason);
    Ok(match query {
        Query::MatchAll => Bound::All,
        Query::MatchNone => Bound::Nothing,
        Query::Bool {
            must,
            filter,
            should,
            must_not,
            minimum_should_match,
        } => {
            let required = must
                .iter()
                .chain(filter)
                .map(|q| bind(q, shard, now))
                .collect::<EsResult<Vec<_>>>()?;
            let msm = minimum_should_match
                .unwrap_or(usize::from(required.is_empty() && !should.is_empty()));
            Bound::Bool {
                required,
                should: should
                    .iter()
                    .map(|q| bind(q, shard, now))
                    .collect::<EsResult<_>>()?,
                must_not: must_not
                    .iter()
                    .map(|q| bind(q, shard, now))
                    .collect::<EsResult<_>>()?,
                minimum_should_match: msm,
            }
        }
        Query::Term {
            field,
            value,
            case_insensitive,
        } => match mapping.fields.get(field) {
            None | Some(FieldType::Object) => Bound::Nothing,
            Some(FieldType::Text) => Bound::Field {
                field: field.clone(),
                pred: Pred::Token(keyword_text(value)),
            },
            Some(FieldType::Keyword { .. } | FieldType::Flattened) if *case_insensitive => {
                Bound::Field {
                    field: field.clone(),
                    pred: Pred::KeywordCaseless(keyword_text(value).to_lowercase()),
                }
            }
            Some(ty) => Bound::Field {
                field: field.clone(),
                pred: Pred::AnyOf(vec![convert(ty, value, None, now).map_err(fail)?]),
            },
        },
        Query::Terms { field, values } => match mapping.fields.get(field) {
            None | Some(FieldType::Object) => Bound::Nothing,
            Some(FieldType::Text) => Bound::Field {
                field: field.clone(),
                pred: Pred::Tokens {
                    tokens: values.iter().map(keyword_text).collect(),
                    all: false,
                },
            },
            Some(ty) => Bound::Field {
                field: field.clone(),
                pred: Pred::AnyOf(
                    values
                        .iter()
                        .map(|v| convert(ty, v, None, now))
                        .collect::<Result<_, _>>()
                        .map_err(fail)?,
                ),
            },
        },
        Query::Match { field, query, and } => match mapping.fields.get(field) {
            None | Some(FieldType::Object) => Bound::Nothing,
            Some(FieldType::Text) => {
                let tokens = analyze(&keyword_text(query));
                if tokens.is_empty() {
                    Bound::Nothing
                } else {
                    Bound::Field {
                        field: field.clone(),
                        pred: Pred::Tokens { tokens, all: *and },
                    }
                }
            }
            Some(ty) => Bound::Field {
                field: field.clone(),
                pred: Pred::AnyOf(vec![convert(ty, query, None, now).map_err(fail)?]),
            },
        },
        Query::Range {
            field,
            bounds,
            format,
        } => match mapping.fields.get(field) {
            None | Some(FieldType::Object) => Bound::Nothing,
            Some(ty) => {
                let conv = |v: &Option<Value>| -> EsResult<Option<Indexed>> {
                    v.as_ref()
                        .map(|v| convert(ty, v, *format, now))
                        .transpose()
                        .map_err(fail)
                };
                let [gt, gte, lt, lte] = bounds;
                let lower = match (conv(gt)?, conv(gte)?) {
                    (Some(v), _) => Some((v, false)),
                    (None, Some(v)) => Some((v, true)),
                    (None, None) => None,
                };
                let upper = match (conv(lt)?, conv(lte)?) {
                    (Some(v), _) => Some((v, false)),
                    (None, Some(v)) => Some((v, true)),
                    (None, None) => None,
                };
                Bound::Field {
                    field: field.clone(),
                    pred: Pred::Range { lower, upper },
                }
            }
        },
        Query::Exists { field } => Bound::Exists(field.clone()),
        Query::Ids { values } => Bound::Ids(values.iter().cloned().collect()),
    })
}

/// Orders a document's value against a query value of the same field.
fn compare(doc: &Indexed, q: &Indexed) -> Option<Ordering> {
    match (doc, q) {
        (Indexed::Long(a), Indexed::Double(b)) => (*a as f64).partial_cmp(b),
        (Indexed::Double(a), Indexed::Double(b)) => a.partial_cmp(b),
        (Indexed::Date(a), Indexed::Date(b)) => Some((a.secs, a.nanos).cmp(&(b.secs, b.nanos))),
        (Indexed::Bool(a), Indexed::Bool(b)) => Some(a.cmp(b)),
        (Indexed::Keyword(a), Indexed::Keyword(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    }
}

fn matches(bound: &Bound, doc: &Doc) -> bool {
    match bound {
        Bound::All => true,
        Bound::Nothing => false,
        Bound::Bool {
            required,
            should,
            must_not,
            minimum_should_match,
        } => {
            required.iter().all(|b| matches(b, doc))
                && !must_not.iter().any(|b| matches(b, doc))
                && should.iter().filter(|b| matches(b, doc)).count() >= *minimum_should_match
        }
        Bound::Field { field, pred } => {
            let Some(values) = doc.fields.get(field) else {
                return false;
            };
            match pred {
                Pred::AnyOf(wanted) => values.iter().any(|v| {
                    wanted
                        .iter()
                        .any(|w| compare(v, w) == Some(Ordering::Equal))
                }),
                Pred::KeywordCaseless(w) => values
                    .iter()
                    .any(|v| matches!(v, Indexed::Keyword(k) if k.to_lowercase() == *w)),
                Pred::Token(t) => values
                    .iter()
                    .any(|v| matches!(v, Indexed::Text(tokens) if tokens.contains(t))),
                Pred::Tokens { tokens, all } => {
                    let has = |t: &String| {
                        values
                            .iter()
                            .any(|v| matches!(v, Indexed::Text(ts) if ts.contains(t)))
                    };
                    if *all {
                        tokens.iter().all(has)
                    } else {
                        tokens.iter().any(has)
                    }
                }
                Pred::Range { lower, upper } => values.iter().any(|v| {
                    let candidates: Vec<Indexed> = match v {
                        Indexed::Text(tokens) => {
                            tokens.iter().cloned().map(Indexed::Keyword).collect()
                        }
                        other => vec![other.clone()],
                    };
                    candidates.iter().any(|v| {
                        let above =
                            lower
                                .as_ref()
                                .is_none_or(|(b, inclusive)| match compare(v, b) {
                                    Some(Ordering::Greater) => true,
                                    Some(Ordering::Equal) => *inclusive,
                                    _ => false,
                                });
                        let below =
                            upper
                                .as_ref()
                                .is_none_or(|(b, inclusive)| match compare(v, b) {
                                    Some(Ordering::Less) => true,
                                    Some(Ordering::Equal) => *inclusive,
                                    _ => false,
                                });
                        above && below
                    })
                }),
            }
        }
        Bound::Exists(field) => {
            doc.fields.get(field).is_some_and(|v| !v.is_empty()) || {
                let prefix = format!("{field}.");
                doc.fields.keys().any(|k| k.starts_with(&prefix))
            }
        }
        Bound::Ids(ids) => ids.contains(&doc.id),
    }
}

/// Where documents without a value go.
#[derive(Debug, Clone, PartialEq)]
enum Missing {
    Last,
    First,
    Value(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Field(String),
    Score,
    Doc,
    ShardDoc,
    /// `_id`: sortable through its field data in 7.x (`indices.id_field_data.enabled` defaults
    /// to true there), refused by 8.x and 9.x.
    Id,
}

/// One sort clause.
#[derive(Debug, Clone)]
pub struct SortSpec {
    target: Target,
    desc: bool,
    missing: Missing,
    unmapped_type: Option<FieldType>,
    format: Option<DateFormat>,
    /// `mode: max` (the default for descending order) rather than `min`.
    max: bool,
}

fn sort_spec(name: &str, desc: Option<bool>) -> SortSpec {
    let target = match name {
        "_score" => Target::Score,
        "_doc" => Target::Doc,
        "_shard_doc" => Target::ShardDoc,
        "_id" => Target::Id,
        field => Target::Field(field.to_string()),
    };
    let desc = desc.unwrap_or(target == Target::Score);
    SortSpec {
        target,
        desc,
        missing: Missing::Last,
        unmapped_type: None,
        format: None,
        max: desc,
    }
}

fn parse_order(v: &Value) -> EsResult<bool> {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        _ => Err(EsError::bad_request(&format!(
            "Unknown SortOrder [{}]",
            keyword_text(v)
        ))),
    }
}

/// Reads `sort` from a search body: a string, an object or an array of them.
pub fn parse_sort(v: &Value) -> EsResult<Vec<SortSpec>> {
    let items = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut specs = Vec::new();
    for item in items {
        match item {
            Value::String(name) => specs.push(sort_spec(&name, None)),
            Value::Object(obj) => {
                for (name, params) in obj {
                    let mut spec = match params {
                        Value::String(_) => sort_spec(&name, Some(parse_order(&params)?)),
                        Value::Object(p) => {
                            let desc = p.get("order").map(parse_order).transpose()?;
                            let mut spec = sort_spec(&name, desc);
                            for (k, v) in &p {
                                match k.as_str() {
                                    "order" => {}
                                    "missing" => {
                                        spec.missing = match v.as_str() {
                                            Some("_last") => Missing::Last,
                                            Some("_first") => Missing::First,
                                            _ => Missing::Value(v.clone()),
                                        }
                                    }
                                    "unmapped_type" => {
                                        let t = v.as_str().unwrap_or_default();
                                        spec.unmapped_type = Some(match t {
                                            "long" | "integer" | "short" | "byte" => {
                                                FieldType::Long
                                            }
                                            "double" | "float" => FieldType::Double,
                                            "date" => FieldType::Date {
                                                nanos: false,
                                                format: DateFormat::Default,
                                            },
                                            "date_nanos" => FieldType::Date {
                                                nanos: true,
                                                format: DateFormat::Default,
                                            },
                                            "keyword" => FieldType::Keyword { ignore_above: None },
                                            "boolean" => FieldType::Boolean,
                                            other => {
                                                return Err(EsError::unsupported(&format!(
                                                    "[unmapped_type] [{other}]"
                                                )))
                                            }
                                        });
                                    }
                                    "format" => {
                                        let f = v.as_str().unwrap_or_default();
                                        spec.format =
                                            Some(DateFormat::from_name(f).ok_or_else(|| {
                                                EsError::unsupported(&format!(
                                                    "the sort format [{f}]"
                                                ))
                                            })?);
                                    }
                                    "mode" => match v.as_str() {
                                        Some("min") => spec.max = false,
                                        Some("max") => spec.max = true,
                                        _ => {
                                            return Err(EsError::unsupported(&format!(
                                                "the sort mode [{}]",
                                                keyword_text(v)
                                            )))
                                        }
                                    },
                                    "numeric_type" | "nested" => {
                                        return Err(EsError::unsupported(&format!(
                                            "[{k}] in a sort"
                                        )))
                                    }
                                    other => {
                                        return Err(EsError::new(
                                            400,
                                            "x_content_parse_exception",
                                            &format!("[field_sort] unknown field [{other}]"),
                                        ))
                                    }
                                }
                            }
                            spec
                        }
                        other => {
                            return Err(EsError::parsing(&format!(
                                "[sort] for [{name}] expects an order or an object, found {}",
                                token(&other)
                            )))
                        }
                    };
                    if spec.target == Target::Score && spec.missing != Missing::Last {
                        spec.missing = Missing::Last;
                    }
                    specs.push(spec);
                }
            }
            other => {
                return Err(EsError::parsing(&format!(
                    "malformed sort format, found {}",
                    token(&other)
                )))
            }
        }
    }
    Ok(specs)
}

/// Parses `sort=field:desc,other` from the URL.
pub fn parse_sort_param(param: &str) -> EsResult<Vec<SortSpec>> {
    let mut specs = Vec::new();
    for part in param.split(',').filter(|p| !p.is_empty()) {
        let (name, order) = match part.rsplit_once(':') {
            Some((n, o)) => (n, Some(parse_order(&Value::String(o.into()))?)),
            None => (part, None),
        };
        specs.push(sort_spec(name, order));
    }
    Ok(specs)
}

/// A sort value.
#[derive(Debug, Clone)]
enum Key {
    Long(i64),
    Double(f64),
    Str(Option<String>),
}

/// How one sort clause reads one shard's documents.
#[derive(Debug, Clone)]
enum Plan {
    /// Long, boolean (0/1) and date (millis, or nanos for `date_nanos`) fields.
    Long {
        field: String,
        date: Option<bool>,
        missing: i64,
    },
    Double {
        field: String,
        missing: f64,
    },
    Keyword {
        field: String,
        missing: Option<String>,
    },
    Score,
    Doc,
    ShardDoc,
    Id,
}

fn plan(spec: &SortSpec, shard: &Shard, now: Instant) -> EsResult<Option<Plan>> {
    let field = match &spec.target {
        Target::Score => return Ok(Some(Plan::Score)),
        Target::Doc => return Ok(Some(Plan::Doc)),
        Target::ShardDoc => return Ok(Some(Plan::ShardDoc)),
        Target::Id => return Ok(Some(Plan::Id)),
        Target::Field(f) => f,
    };
    let ty = match shard.mapping.fields.get(field) {
        Some(FieldType::Object) | None => match &spec.unmapped_type {
            Some(t) => t.clone(),
            None => return Ok(None),
        },
        Some(FieldType::Text) => {
            let reason = format!(
                "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
            );
            return Err(EsError::shard_failure(
                400,
                exception("illegal_argument_exception", &reason),
                Some(&shard.index),
            ));
        }
        Some(t) => t.clone(),
    };
    let first = (spec.missing == Missing::First) != spec.desc;
    let custom = |ty: &FieldType| -> EsResult<Option<Indexed>> {
        match &spec.missing {
            Missing::Value(v) => convert(ty, v, None, now)
                .map(Some)
                .map_err(|e| shard_query_error(&shard.index, e)),
            _ => Ok(None),
        }
    };
    Ok(Some(match ty {
        FieldType::Long | FieldType::Boolean | FieldType::Date { .. } => {
            let date = match ty {
                FieldType::Date { nanos, .. } => Some(nanos),
                _ => None,
            };
            let missing = match custom(&ty)? {
                Some(Indexed::Double(d)) => d as i64,
                Some(Indexed::Bool(b)) => i64::from(b),
                Some(Indexed::Date(i)) if date == Some(true) => i.nanos().unwrap_or(i64::MAX),
                Some(Indexed::Date(i)) => i.millis(),
                _ if first => i64::MIN,
                _ => i64::MAX,
            };
            Plan::Long {
                field: field.clone(),
                date,
                missing,
            }
        }
        FieldType::Double => Plan::Double {
            field: field.clone(),
            missing: match custom(&ty)? {
                Some(Indexed::Double(d)) => d,
                _ if first => f64::NEG_INFINITY,
                _ => f64::INFINITY,
            },
        },
        _ => Plan::Keyword {
            field: field.clone(),
            missing: match custom(&FieldType::Keyword { ignore_above: None })? {
                Some(Indexed::Keyword(s)) => Some(s),
                _ => None,
            },
        },
    }))
}

fn long_of(v: &Indexed, nanos: bool) -> Option<i64> {
    match v {
        Indexed::Long(n) => Some(*n),
        Indexed::Double(d) => Some(*d as i64),
        Indexed::Bool(b) => Some(i64::from(*b)),
        Indexed::Date(i) if nanos => i.nanos(),
        Indexed::Date(i) => Some(i.millis()),
        _ => None,
    }
}

fn key_of(plan: &Plan, spec: &SortSpec, doc: &Doc, shard_ord: usize, pos: usize) -> Key {
    let values = |field: &str| doc.fields.get(field).map(Vec::as_slice).unwrap_or_default();
    match plan {
        Plan::Score => Key::Double(1.0),
        Plan::Doc => Key::Long(pos as i64),
        Plan::ShardDoc => Key::Long(((shard_ord as i64) << 32) | pos as i64),
        Plan::Id => Key::Str(Some(doc.id.clone())),
        Plan::Long {
            field,
            date,
            missing,
        } => {
            let vals = values(field)
                .iter()
                .filter_map(|v| long_of(v, *date == Some(true)));
            let picked = if spec.max { vals.max() } else { vals.min() };
            Key::Long(picked.unwrap_or(*missing))
        }
        Plan::Double { field, missing } => {
            let vals = values(field).iter().filter_map(|v| match v {
                Indexed::Double(d) => Some(*d),
                Indexed::Long(n) => Some(*n as f64),
                _ => None,
            });
            let picked = vals.reduce(|a, b| if (b > a) == spec.max { b } else { a });
            Key::Double(picked.unwrap_or(*missing))
        }
        Plan::Keyword { field, missing } => {
            let vals = values(field).iter().filter_map(|v| match v {
                Indexed::Keyword(k) => Some(k),
                _ => None,
            });
            let picked = if spec.max { vals.max() } else { vals.min() };
            Key::Str(picked.cloned().or_else(|| missing.clone()))
        }
    }
}

fn compare_keys(a: &Key, b: &Key, spec: &SortSpec) -> Ordering {
    let missing_first = spec.missing == Missing::First;
    let o = match (a, b) {
        (Key::Long(x), Key::Long(y)) => x.cmp(y),
        (Key::Double(x), Key::Double(y)) => x.total_cmp(y),
        (Key::Long(x), Key::Double(y)) => (*x as f64).total_cmp(y),
        (Key::Double(x), Key::Long(y)) => x.total_cmp(&(*y as f64)),
        // Missing strings go first or last whatever the order.
        (Key::Str(None), Key::Str(None)) => Ordering::Equal,
        (Key::Str(None), Key::Str(Some(_))) => {
            return if missing_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Key::Str(Some(_)), Key::Str(None)) => {
            return if missing_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Key::Str(Some(x)), Key::Str(Some(y))) => x.cmp(y),
        (Key::Str(_), _) => Ordering::Greater,
        (_, Key::Str(_)) => Ordering::Less,
    };
    if spec.desc {
        o.reverse()
    } else {
        o
    }
}

fn key_json(key: &Key, plan: &Plan, spec: &SortSpec) -> Value {
    match (key, plan) {
        (
            Key::Long(n),
            Plan::Long {
                date: Some(nanos), ..
            },
        ) if spec.format.is_some() => {
            let instant = if *nanos {
                Instant::from_nanos(*n)
            } else {
                Instant::from_millis(*n)
            };
            json!(spec.format.expect("checked").print(instant))
        }
        (Key::Long(n), _) => json!(n),
        (Key::Double(d), _) if d.is_finite() => json!(d),
        (Key::Double(d), _) => json!(if *d > 0.0 { "Infinity" } else { "-Infinity" }),
        (Key::Str(s), _) => json!(s),
    }
}

/// A `search_after` value as a key of the clause's plan.
fn key_from_json(v: &Value, plan: &Plan, spec: &SortSpec, now: Instant) -> Result<Key, ()> {
    match plan {
        Plan::Score => v.as_f64().map(Key::Double).ok_or(()),
        Plan::Doc | Plan::ShardDoc => v.as_i64().map(Key::Long).ok_or(()),
        Plan::Id => v.as_str().map(|s| Key::Str(Some(s.to_owned()))).ok_or(()),
        Plan::Long { date, .. } => match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Key::Long)
                .ok_or(()),
            Value::String(s) => {
                if let Ok(n) = s.parse::<i64>() {
                    return Ok(Key::Long(n));
                }
                let Some(nanos) = date else { return Err(()) };
                let format = spec.format.unwrap_or(DateFormat::Default);
                let instant = match parse_now(s, now) {
                    Ok(Some(i)) => i,
                    _ => format.parse(s).ok_or(())?,
                };
                if *nanos {
                    instant.nanos().map(Key::Long).ok_or(())
                } else {
                    Ok(Key::Long(instant.millis()))
                }
            }
            Value::Bool(b) => Ok(Key::Long(i64::from(*b))),
            _ => Err(()),
        },
        Plan::Double { .. } => match v {
            Value::Number(n) => n.as_f64().map(Key::Double).ok_or(()),
            Value::String(s) => s.parse::<f64>().map(Key::Double).map_err(|_| ()),
            _ => Err(()),
        },
        Plan::Keyword { .. } => match v {
            Value::Null => Ok(Key::Str(None)),
            other => Ok(Key::Str(Some(keyword_text(other)))),
        },
    }
}

/// `track_total_hits`.
#[derive(Debug, Clone, Copy)]
pub enum TrackTotal {
    Off,
    UpTo(usize),
    Exact,
}

/// `_source` filtering.
#[derive(Debug, Clone, Default)]
pub struct SourceFilter {
    pub disabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl SourceFilter {
    pub fn parse(v: &Value) -> EsResult<SourceFilter> {
        let strings = |v: &Value| -> EsResult<Vec<String>> {
            match v {
                Value::String(s) => Ok(vec![s.clone()]),
                Value::Array(a) => Ok(a.iter().map(keyword_text).collect()),
                _ => Err(EsError::parsing(
                    "[_source] patterns must be strings or arrays of strings",
                )),
            }
        };
        Ok(match v {
            Value::Bool(b) => SourceFilter {
                disabled: !b,
                ..SourceFilter::default()
            },
            Value::String(_) | Value::Array(_) => SourceFilter {
                includes: strings(v)?,
                ..SourceFilter::default()
            },
            Value::Object(o) => {
                let mut f = SourceFilter::default();
                for (k, v) in o {
                    match k.as_str() {
                        "includes" | "include" => f.includes = strings(v)?,
                        "excludes" | "exclude" => f.excludes = strings(v)?,
                        other => {
                            return Err(EsError::parsing(&format!(
                                "Unknown key for a {} in [{other}].",
                                token(v)
                            )))
                        }
                    }
                }
                f
            }
            other => {
                return Err(EsError::parsing(&format!(
                    "Unknown key for a {} in [_source].",
                    token(other)
                )))
            }
        })
    }

    /// The filtered `_source`.
    pub fn apply(&self, source: &Value) -> Value {
        if self.includes.is_empty() && self.excludes.is_empty() {
            return source.clone();
        }
        filter_object(source, "", &self.includes, &self.excludes, false)
            .unwrap_or_else(|| json!({}))
    }
}

/// Keeps the leaves whose path (or an ancestor's) matches an include and none an exclude.
fn filter_object(
    v: &Value,
    path: &str,
    includes: &[String],
    excludes: &[String],
    included: bool,
) -> Option<Value> {
    let matches_any = |ps: &[String], p: &str| ps.iter().any(|pat| glob(pat, p));
    match v {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (k, child) in obj {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if matches_any(excludes, &p) {
                    continue;
                }
                let inc = included || includes.is_empty() || matches_any(includes, &p);
                if let Some(kept) = filter_object(child, &p, includes, excludes, inc) {
                    out.insert(k.clone(), kept);
                }
            }
            if out.is_empty() && !included && !path.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter_map(|i| filter_object(i, path, includes, excludes, included))
                .collect();
            if kept.is_empty() && !included {
                None
            } else {
                Some(Value::Array(kept))
            }
        }
        leaf if included => Some(leaf.clone()),
        _ => None,
    }
}

/// A parsed search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Query,
    pub size: usize,
    pub from: usize,
    pub sort: Vec<SortSpec>,
    pub search_after: Option<Vec<Value>>,
    pub track_total_hits: TrackTotal,
    pub total_as_int: bool,
    pub source: SourceFilter,
    pub seq_no_primary_term: bool,
    pub version: bool,
    pub pit: Option<(String, Option<Duration>)>,
}

impl Default for SearchRequest {
    fn default() -> SearchRequest {
        SearchRequest {
            query: Query::MatchAll,
            size: 10,
            from: 0,
            sort: Vec::new(),
            search_after: None,
            track_total_hits: TrackTotal::UpTo(10_000),
            total_as_int: false,
            source: SourceFilter::default(),
            seq_no_primary_term: false,
            version: false,
            pit: None,
        }
    }
}

/// `1m`, `30s`, `500ms`, `2h`, `1d`.
pub fn parse_time(s: &str, setting: &str) -> EsResult<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| {
        EsError::bad_request(&format!("failed to parse setting [{setting}] with value [{s}] as a time value: unit is missing or unrecognized"))
    })?;
    let per_ms = match unit {
        "nanos" => return Ok(Duration::from_nanos(n)),
        "micros" => return Ok(Duration::from_micros(n)),
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(EsError::bad_request(&format!(
                "failed to parse setting [{setting}] with value [{s}] as a time value: unit is missing or unrecognized"
            )))
        }
    };
    Ok(Duration::from_millis(n * per_ms))
}

fn usize_of(v: &Value, name: &str) -> EsResult<usize> {
    match v.as_i64() {
        Some(n) if n >= 0 => Ok(n as usize),
        Some(n) => Err(EsError::bad_request(&format!(
            "[{name}] parameter cannot be negative, found [{n}]"
        ))),
        None => Err(EsError::parsing(&format!(
            "[{name}] must be a number, found {}",
            token(v)
        ))),
    }
}

impl SearchRequest {
    /// Reads a search body (`None` or empty: match everything).
    pub fn from_body(body: Option<&Value>) -> EsResult<SearchRequest> {
        let mut req = SearchRequest::default();
        let Some(body) = body else { return Ok(req) };
        let obj = body.as_object().ok_or_else(|| {
            EsError::parsing("Expected [START_OBJECT] but found a different token")
        })?;
        for (key, v) in obj {
            match key.as_str() {
                "query" => req.query = parse_query(v)?,
                "size" => req.size = usize_of(v, "size")?,
                "from" => req.from = usize_of(v, "from")?,
                "sort" => req.sort = parse_sort(v)?,
                "search_after" => {
                    req.search_after = Some(
                        v.as_array()
                            .cloned()
                            .ok_or_else(|| EsError::parsing("[search_after] must be an array"))?,
                    )
                }
                "track_total_hits" => {
                    req.track_total_hits = match v {
                        Value::Bool(true) => TrackTotal::Exact,
                        Value::Bool(false) => TrackTotal::Off,
                        Value::Number(_) => {
                            let n = v.as_i64().unwrap_or(-2);
                            match n {
                                -1 => TrackTotal::Exact,
                                n if n >= 0 => TrackTotal::UpTo(n as usize),
                                _ => return Err(EsError::bad_request("[track_total_hits] parameter must be positive or equals to -1, got [-2]")),
                            }
                        }
                        other => {
                            return Err(EsError::parsing(&format!(
                                "[track_total_hits] must be a boolean or a number, found {}",
                                token(other)
                            )))
                        }
                    }
                }
                "_source" => req.source = SourceFilter::parse(v)?,
                "seq_no_primary_term" => req.seq_no_primary_term = v.as_bool().unwrap_or(false),
                "version" => req.version = v.as_bool().unwrap_or(false),
                "pit" => {
                    let id = v
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| EsError::parsing("[point_in_time] requires [id]"))?;
                    let keep_alive = v
                        .get("keep_alive")
                        .and_then(Value::as_str)
                        .map(|k| parse_time(k, "keep_alive"))
                        .transpose()?;
                    req.pit = Some((id.to_string(), keep_alive));
                }
                "timeout" | "track_scores" | "explain" | "terminate_after" | "profile"
                | "stats" => {}
                "aggs" | "aggregations" | "highlight" | "collapse" | "slice"
                | "runtime_mappings" | "min_score" | "post_filter" | "rescore" | "suggest"
                | "script_fields" | "indices_boost" | "knn" | "fields" | "docvalue_fields"
                | "stored_fields" | "retriever" | "rank" | "ext" => {
                    return Err(EsError::unsupported(&format!(
                        "[{key}] in a search request"
                    )))
                }
                other => {
                    return Err(EsError::parsing(&format!(
                        "Unknown key for a {} in [{other}].",
                        token(v)
                    )))
                }
            }
        }
        Ok(req)
    }
}

/// Whether this flavor adds `_shard_doc` to PIT searches and knows the field at all.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub shard_doc: bool,
    pub type_field: bool,
    /// Sorting on `_id` (7.x only).
    pub id_sort: bool,
}

/// Runs `req` over `shards`; `pit_id` is echoed as `pit_id`.
pub fn execute(
    req: &SearchRequest,
    shards: &[Shard],
    caps: Capabilities,
    pit_id: Option<&str>,
    now: Instant,
) -> EsResult<Value> {
    let explicit_sort = !req.sort.is_empty();
    let mut sorts = if explicit_sort {
        req.sort.clone()
    } else {
        vec![sort_spec("_score", None)]
    };
    for spec in &sorts {
        if spec.target == Target::Id && !caps.id_sort {
            return Err(EsError::shard_failure(
                400,
                exception(
                    "illegal_argument_exception",
                    "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled",
                ),
                shards.first().map(|s| s.index.as_str()),
            ));
        }
        if spec.target == Target::ShardDoc {
            if !caps.shard_doc {
                let e = index_exception(
                    "query_shard_exception",
                    "No mapping found for [_shard_doc] in order to sort on",
                    shards.first().map_or("_na_", |s| s.index.as_str()),
                    false,
                );
                return Err(EsError::shard_failure(
                    400,
                    e,
                    shards.first().map(|s| s.index.as_str()),
                ));
            }
            if pit_id.is_none() {
                return Err(EsError::validation(&[
                    "[_shard_doc] sort field cannot be used without [point in time]",
                ]));
            }
        }
    }
    if caps.shard_doc
        && pit_id.is_some()
        && explicit_sort
        && req
            .search_after
            .as_ref()
            .is_none_or(|a| a.len() == sorts.len() + 1)
        && sorts.last().is_some_and(|s| s.target != Target::ShardDoc)
    {
        sorts.push(sort_spec("_shard_doc", Some(false)));
    }
    if let Some(after) = &req.search_after {
        if after.len() != sorts.len() {
            return Err(EsError::shard_failure(
                400,
                exception(
                    "illegal_argument_exception",
                    &format!(
                        "search_after has {} value(s) but sort has {}.",
                        after.len(),
                        sorts.len()
                    ),
                ),
                shards.first().map(|s| s.index.as_str()),
            ));
        }
        if req.from > 0 {
            return Err(EsError::validation(&[
                "`from` parameter must be set to 0 when `search_after` is used",
            ]));
        }
    }
    if req.from + req.size > 10_000 {
        return Err(EsError::shard_failure(
            400,
            exception(
                "illegal_argument_exception",
                &format!(
                    "Result window is too large, from + size must be less than or equal to: [10000] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                    req.from + req.size
                ),
            ),
            shards.first().map(|s| s.index.as_str()),
        ));
    }
    // Plans per shard; a field mapped nowhere (and without unmapped_type) is an error.
    let mut plans: Vec<Vec<Option<Plan>>> = Vec::new();
    for shard in shards {
        plans.push(
            sorts
                .iter()
                .map(|s| plan(s, shard, now))
                .collect::<EsResult<_>>()?,
        );
    }
    for (i, spec) in sorts.iter().enumerate() {
        if let Target::Field(f) = &spec.target {
            if !shards.is_empty() && plans.iter().all(|p| p[i].is_none()) {
                let index = &shards[0].index;
                let e = index_exception(
                    "query_shard_exception",
                    &format!("No mapping found for [{f}] in order to sort on"),
                    index,
                    false,
                );
                return Err(EsError::shard_failure(400, e, Some(index)));
            }
        }
    }
    // A shard where the field is unmapped sorts its documents as missing, with the type the
    // field has elsewhere.
    let reference: Vec<Option<Plan>> = (0..sorts.len())
        .map(|i| plans.iter().find_map(|p| p[i].clone()))
        .collect();
    for shard_plans in &mut plans {
        for (i, p) in shard_plans.iter_mut().enumerate() {
            if p.is_none() {
                *p = reference[i].clone();
            }
        }
    }
    let after: Option<Vec<Key>> = match &req.search_after {
        None => None,
        Some(values) => Some(
            values
                .iter()
                .zip(&sorts)
                .enumerate()
                .map(|(i, (v, spec))| {
                    let plan = reference[i].as_ref().unwrap_or(&Plan::Score);
                    key_from_json(v, plan, spec, now).map_err(|()| {
                        let name = match &spec.target {
                            Target::Field(f) => f.as_str(),
                            Target::Score => "_score",
                            Target::Doc => "_doc",
                            Target::ShardDoc => "_shard_doc",
                            Target::Id => "_id",
                        };
                        EsError::shard_failure(
                            400,
                            exception(
                                "illegal_argument_exception",
                                &format!("Failed to parse search_after value for field [{name}]."),
                            ),
                            shards.first().map(|s| s.index.as_str()),
                        )
                    })
                })
                .collect::<EsResult<_>>()?,
        ),
    };
    let cmp_all = |a: &[Key], b: &[Key]| -> Ordering {
        for ((x, y), spec) in a.iter().zip(b).zip(&sorts) {
            let o = compare_keys(x, y, spec);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    let mut total = 0usize;
    let mut hits: Vec<(usize, usize, Vec<Key>)> = Vec::new();
    for (ord, shard) in shards.iter().enumerate() {
        let bound = bind(&req.query, shard, now)?;
        let shard_plans: Vec<Plan> = plans[ord]
            .iter()
            .map(|p| p.clone().unwrap_or(Plan::Score))
            .collect();
        for (pos, doc) in shard.docs.iter().enumerate() {
            if !matches(&bound, doc) {
                continue;
            }
            total += 1;
            let keys: Vec<Key> = shard_plans
                .iter()
                .zip(&sorts)
                .map(|(p, s)| key_of(p, s, doc, ord, pos))
                .collect();
            if let Some(after) = &after {
                if cmp_all(&keys, after) != Ordering::Greater {
                    continue;
                }
            }
            hits.push((ord, pos, keys));
        }
    }
    let order = |a: &(usize, usize, Vec<Key>), b: &(usize, usize, Vec<Key>)| {
        cmp_all(&a.2, &b.2).then((a.0, a.1).cmp(&(b.0, b.1)))
    };
    // Only the page is needed in order: select it, then sort it (pages are small, matches many).
    let wanted = req.from + req.size;
    if wanted < hits.len() {
        if wanted > 0 {
            hits.select_nth_unstable_by(wanted - 1, order);
        }
        hits.truncate(wanted);
    }
    hits.sort_by(order);
    let sorted_by_score_only = !explicit_sort || sorts.iter().any(|s| s.target == Target::Score);
    let page: Vec<Value> = hits
        .iter()
        .skip(req.from)
        .take(req.size)
        .map(|(ord, pos, keys)| {
            let shard = &shards[*ord];
            let doc = &shard.docs[*pos];
            let mut hit = Map::new();
            hit.insert("_index".into(), json!(shard.index));
            if caps.type_field {
                hit.insert("_type".into(), json!("_doc"));
            }
            hit.insert("_id".into(), json!(doc.id));
            if req.version {
                hit.insert("_version".into(), json!(doc.version));
            }
            if req.seq_no_primary_term {
                hit.insert("_seq_no".into(), json!(doc.seq_no));
                hit.insert("_primary_term".into(), json!(super::store::PRIMARY_TERM));
            }
            hit.insert(
                "_score".into(),
                if sorted_by_score_only {
                    json!(1.0)
                } else {
                    Value::Null
                },
            );
            if !req.source.disabled {
                hit.insert("_source".into(), req.source.apply(&doc.source));
            }
            if explicit_sort {
                let shard_plans = &plans[*ord];
                let values: Vec<Value> = keys
                    .iter()
                    .zip(&sorts)
                    .zip(shard_plans)
                    .map(|((k, s), p)| key_json(k, p.as_ref().unwrap_or(&Plan::Score), s))
                    .collect();
                hit.insert("sort".into(), Value::Array(values));
            }
            Value::Object(hit)
        })
        .collect();
    let mut hits_obj = Map::new();
    match req.track_total_hits {
        TrackTotal::Off => {}
        _ if req.total_as_int => {
            hits_obj.insert("total".into(), json!(total));
        }
        TrackTotal::Exact => {
            hits_obj.insert("total".into(), json!({"value": total, "relation": "eq"}));
        }
        TrackTotal::UpTo(limit) => {
            let (value, relation) = if total > limit {
                (limit, "gte")
            } else {
                (total, "eq")
            };
            hits_obj.insert(
                "total".into(),
                json!({"value": value, "relation": relation}),
            );
        }
    }
    hits_obj.insert(
        "max_score".into(),
        if sorted_by_score_only && !page.is_empty() {
            json!(1.0)
        } else {
            Value::Null
        },
    );
    hits_obj.insert("hits".into(), Value::Array(page));
    let mut out = Map::new();
    if let Some(id) = pit_id {
        out.insert("pit_id".into(), json!(id));
    }
    out.insert("took".into(), json!(1));
    out.insert("timed_out".into(), json!(false));
    out.insert(
        "_shards".into(),
        json!({"total": shards.len(), "successful": shards.len(), "skipped": 0, "failed": 0}),
    );
    out.insert("hits".into(), Value::Object(hits_obj));
    Ok(Value::Object(out))
}

/// Counts the documents of `shards` that match `query`.
pub fn count(query: &Query, shards: &[Shard], now: Instant) -> EsResult<usize> {
    let mut n = 0;
    for shard in shards {
        let bound = bind(query, shard, now)?;
        n += shard.docs.iter().filter(|d| matches(&bound, d)).count();
    }
    Ok(n)
}
