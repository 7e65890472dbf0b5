//! The REST endpoints: routing (with Elasticsearch's 400 and 405 for unknown paths and methods),
//! parameter checks, and one handler per API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::date::Instant;
use super::errors::{exception, index_exception, EsError, EsResult};
use super::http::{Request, Response};
use super::mapping::Mapping;
use super::search::{self, parse_time, Query, SearchRequest, SourceFilter, TrackTotal};
use super::store::{
    normalize_template, template_json, IfMatch, IndicesOptions, OpType, Pit, Store, WriteOutcome,
};
use super::{BulkItemFault, Flavor};

/// What a handler needs besides the request.
pub struct Context<'a> {
    pub store: &'a mut Store,
    pub flavor: Flavor,
    pub cluster_uuid: &'a str,
    /// A pending partial-bulk-failure fault, consumed by the next `_bulk`.
    pub bulk_fault: Option<BulkItemFault>,
}

/// The endpoints, with the path parameters they take.
enum Endpoint {
    Root,
    Bulk(Option<String>),
    Templates,
    Template(String),
    Refresh(Option<String>),
    Count(Option<String>),
    Search(Option<String>),
    OpenPit(String),
    ClosePit,
    DocAutoId(String),
    Doc(String, String),
    Create(String, String),
    Update(String, String),
    Index(String),
    Mapping(String),
}

fn route(segments: &[String]) -> Option<(Endpoint, &'static [&'static str])> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let index = |name: &str| !name.starts_with('_');
    Some(match s.as_slice() {
        [] => (Endpoint::Root, &["GET", "HEAD"]),
        ["_bulk"] => (Endpoint::Bulk(None), &["POST", "PUT"]),
        [i, "_bulk"] if index(i) => (Endpoint::Bulk(Some(i.to_string())), &["POST", "PUT"]),
        ["_index_template"] => (Endpoint::Templates, &["GET"]),
        ["_index_template", n] => (
            Endpoint::Template(n.to_string()),
            &["GET", "PUT", "POST", "DELETE", "HEAD"],
        ),
        ["_refresh"] => (Endpoint::Refresh(None), &["GET", "POST"]),
        [i, "_refresh"] if index(i) => (Endpoint::Refresh(Some(i.to_string())), &["GET", "POST"]),
        ["_count"] => (Endpoint::Count(None), &["GET", "POST"]),
        [i, "_count"] if index(i) => (Endpoint::Count(Some(i.to_string())), &["GET", "POST"]),
        ["_search"] => (Endpoint::Search(None), &["GET", "POST"]),
        [i, "_search"] if index(i) => (Endpoint::Search(Some(i.to_string())), &["GET", "POST"]),
        [i, "_pit"] if index(i) => (Endpoint::OpenPit(i.to_string()), &["POST"]),
        ["_pit"] => (Endpoint::ClosePit, &["DELETE"]),
        [i, "_doc"] if index(i) => (Endpoint::DocAutoId(i.to_string()), &["POST"]),
        [i, "_doc", id] if index(i) => (
            Endpoint::Doc(i.to_string(), id.to_string()),
            &["GET", "HEAD", "PUT", "POST", "DELETE"],
        ),
        [i, "_create", id] if index(i) => (
            Endpoint::Create(i.to_string(), id.to_string()),
            &["PUT", "POST"],
        ),
        [i, "_update", id] if index(i) => {
            (Endpoint::Update(i.to_string(), id.to_string()), &["POST"])
        }
        [i] if index(i) => (
            Endpoint::Index(i.to_string()),
            &["GET", "HEAD", "PUT", "DELETE"],
        ),
        [i, "_mapping"] if index(i) => (Endpoint::Mapping(i.to_string()), &["GET"]),
        _ => return None,
    })
}

/// Parameters every endpoint takes.
const COMMON: &[&str] = &[
    "pretty",
    "human",
    "error_trace",
    "master_timeout",
    "timeout",
];

/// The query parameters, after rejecting those the endpoint does not know, as Elasticsearch does.
struct Params(Vec<(String, String)>);

impl Params {
    fn check(req: &Request, allowed: &[&str]) -> EsResult<Params> {
        let params = req.params();
        let unknown: Vec<String> = params
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str()))
            .collect();
        if params.iter().any(|(k, _)| k == "filter_path") {
            return Err(EsError::unsupported("[filter_path]"));
        }
        if !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|u| format!("[{u}]")).collect();
            let noun = if unknown.len() == 1 {
                "parameter"
            } else {
                "parameters"
            };
            return Err(EsError::bad_request(&format!(
                "request [{}] contains unrecognized {noun}: {}",
                req.raw_path,
                list.join(", ")
            )));
        }
        Ok(Params(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter: present without value or `true` is true.
    fn flag(&self, name: &str) -> EsResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some("" | "true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(EsError::bad_request(&format!(
                "Failed to parse value [{other}] as only [true] or [false] are allowed."
            ))),
        }
    }

    fn number(&self, name: &str) -> EsResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    EsError::bad_request(&format!(
                        "Failed to parse int parameter [{name}] with value [{v}]"
                    ))
                })
            })
            .transpose()
    }

    fn indices_options(&self) -> EsResult<IndicesOptions> {
        let mut o = IndicesOptions::default();
        if let Some(v) = self.flag("ignore_unavailable")? {
            o.ignore_unavailable = v;
        }
        if let Some(v) = self.flag("allow_no_indices")? {
            o.allow_no_indices = v;
        }
        if let Some(v) = self.get("expand_wildcards") {
            o.expand_wildcards = v != "none";
        }
        Ok(o)
    }

    fn if_match(&self) -> EsResult<Option<IfMatch>> {
        match (self.number("if_seq_no")?, self.number("if_primary_term")?) {
            (None, None) => Ok(None),
            (Some(seq_no), Some(primary_term)) => Ok(Some(IfMatch {
                seq_no,
                primary_term,
            })),
            (Some(_), None) => Err(EsError::validation(&[
                "ifSeqNo is set, but primary term is [0]",
            ])),
            (None, Some(t)) => Err(EsError::validation(&[&format!(
                "ifSeqNo is unassigned, but primary term is [{t}]"
            )])),
        }
    }

    /// `refresh`: `None` (no refresh), `Some(true)` (forced), `Some(false)` (wait_for).
    fn refresh(&self) -> EsResult<Option<bool>> {
        match self.get("refresh") {
            None | Some("false") => Ok(None),
            Some("" | "true") => Ok(Some(true)),
            Some("wait_for") => Ok(Some(false)),
            Some(other) => Err(EsError::bad_request(&format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }
}

const INDICES_OPTIONS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_throttled",
];

fn now() -> Instant {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Instant {
        secs: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    }
}

/// The body as JSON (`None` when empty), after the content-type check.
fn json_body(req: &Request) -> EsResult<Option<Value>> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&req.body).map(Some).map_err(|e| {
        EsError::new(
            400,
            "x_content_parse_exception",
            &format!(
                "[{}:{}] request body is not valid JSON: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Elasticsearch answers 406 to a body in a content type it does not read.
fn check_content_type(req: &Request) -> EsResult<()> {
    if req.body.is_empty() {
        return Ok(());
    }
    let ct = req.header("content-type").unwrap_or_default();
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if matches!(
        media.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/vnd.elasticsearch+json"
            | "application/vnd.elasticsearch+x-ndjson"
    ) {
        Ok(())
    } else {
        Err(EsError(Response::json(
            406,
            &json!({"error": format!("Content-Type header [{ct}] is not supported"), "status": 406}),
        )))
    }
}

/// The `compatible-with=N` of an `application/vnd.elasticsearch+...` media type, if any.
fn compatible_with(header: Option<&str>) -> Option<u32> {
    let h = header?.to_ascii_lowercase();
    if !h.contains("vnd.elasticsearch") {
        return None;
    }
    h.split(';')
        .filter_map(|p| p.trim().strip_prefix("compatible-with="))
        .find_map(|v| v.trim().parse().ok())
}

/// REST API compatibility (8.x and 9.x): a versioned media type must name this major or the one
/// before, on `Accept` and `Content-Type` alike. Returns the version to echo in the response.
fn check_compatibility(flavor: Flavor, req: &Request) -> EsResult<Option<u32>> {
    let current = match flavor {
        Flavor::Es8 => 8,
        Flavor::Es9 => 9,
        Flavor::Es7_10 | Flavor::Es7_17 => return Ok(None),
    };
    let accept_header = req.header("accept").unwrap_or_default();
    let ct_header = req.header("content-type").unwrap_or_default();
    let accept = compatible_with(Some(accept_header));
    let content = if req.body.is_empty() {
        None
    } else {
        compatible_with(Some(ct_header))
    };
    let fail = |reason: String| {
        let mut e = exception(
            "media_type_header_exception",
            "Invalid media-type value on headers [Accept, Content-Type]",
        );
        e.insert(
            "caused_by".into(),
            Value::Object(exception("status_exception", &reason)),
        );
        EsError::from_exception(400, e)
    };
    let supported = |v: u32| v == current || v + 1 == current;
    if let Some(v) = accept.filter(|v| !supported(*v)) {
        return Err(fail(format!(
            "Accept version must be either version {current} or {}, but found {v}. Accept={accept_header}",
            current - 1
        )));
    }
    if let Some(v) = content.filter(|v| !supported(*v)) {
        return Err(fail(format!(
            "Content-Type version must be either version {current} or {}, but found {v}. Content-Type={ct_header}",
            current - 1
        )));
    }
    if content.is_some() && accept != content {
        return Err(fail(format!(
            "A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Content-Type={ct_header}, Accept={accept_header}"
        )));
    }
    Ok(accept)
}

fn shards_json(total: usize, successful: usize) -> Value {
    json!({"total": total, "successful": successful, "failed": 0})
}

/// Serves one request.
pub fn handle(ctx: &mut Context, req: &Request) -> Response {
    let compatible = match check_compatibility(ctx.flavor, req) {
        Ok(v) => v,
        Err(EsError(r)) => return r,
    };
    let mut response = match dispatch(ctx, req) {
        Ok(r) => r,
        Err(EsError(r)) => r,
    };
    if let Some(v) = compatible {
        for (name, value) in &mut response.headers {
            if name == "content-type" && value.starts_with("application/json") {
                *value = format!("application/vnd.elasticsearch+json;compatible-with={v}");
            }
        }
    }
    response
}

fn dispatch(ctx: &mut Context, req: &Request) -> EsResult<Response> {
    let segments = req.segments();
    let Some((endpoint, methods)) = route(&segments) else {
        return Err(EsError::no_handler(&req.raw_path, &req.method));
    };
    if !methods.contains(&req.method.as_str()) {
        return Err(EsError::method_not_allowed(
            &req.raw_path,
            &req.method,
            methods,
        ));
    }
    check_content_type(req)?;
    let m = req.method.as_str();
    match endpoint {
        Endpoint::Root => root(ctx, req),
        Endpoint::Bulk(index) => bulk(ctx, req, index.as_deref()),
        Endpoint::Templates => {
            Params::check(req, &["flat_settings", "local"])?;
            let all: Vec<Value> = ctx
                .store
                .templates
                .iter()
                .map(|(n, t)| template_json(n, t))
                .collect();
            Ok(Response::json(200, &json!({"index_templates": all})))
        }
        Endpoint::Template(name) => template(ctx, req, &name),
        Endpoint::Refresh(index) => {
            let p = Params::check(req, INDICES_OPTIONS)?;
            let names = ctx
                .store
                .resolve(index.as_deref().unwrap_or("_all"), p.indices_options()?)?;
            for n in &names {
                if let Some(i) = ctx.store.indices.get_mut(n) {
                    i.refresh();
                }
            }
            Ok(Response::json(
                200,
                &json!({"_shards": shards_json(names.len() * 2, names.len())}),
            ))
        }
        Endpoint::Count(index) => count(ctx, req, index.as_deref()),
        Endpoint::Search(index) => search(ctx, req, index.as_deref()),
        Endpoint::OpenPit(index) => open_pit(ctx, req, &index),
        Endpoint::ClosePit => close_pit(ctx, req),
        Endpoint::DocAutoId(index) => {
            let p = Params::check(
                req,
                &[
                    "refresh",
                    "op_type",
                    "routing",
                    "pipeline",
                    "require_alias",
                    "wait_for_active_shards",
                ],
            )?;
            let id = ctx.store.new_id(20);
            let op = if p.get("op_type") == Some("create") {
                OpType::Create
            } else {
                OpType::Index
            };
            write_doc(ctx, req, &p, &index, &id, op)
        }
        Endpoint::Doc(index, id) => match m {
            "GET" | "HEAD" => get_doc(ctx, req, &index, &id),
            "DELETE" => {
                let p = Params::check(
                    req,
                    &[
                        "refresh",
                        "if_seq_no",
                        "if_primary_term",
                        "routing",
                        "wait_for_active_shards",
                        "version",
                        "version_type",
                    ],
                )?;
                let refresh = p.refresh()?;
                let if_match = p.if_match()?;
                let store = &mut *ctx.store;
                let Some(idx) = store.indices.get_mut(&index) else {
                    return Err(EsError::index_not_found(&index));
                };
                let outcome = idx.delete(&id, if_match)?;
                if refresh.is_some() {
                    idx.refresh();
                }
                Ok(Response::json(
                    outcome.status,
                    &write_json(ctx.flavor, &index, &outcome, refresh),
                ))
            }
            _ => {
                let p = Params::check(
                    req,
                    &[
                        "refresh",
                        "op_type",
                        "if_seq_no",
                        "if_primary_term",
                        "routing",
                        "pipeline",
                        "require_alias",
                        "wait_for_active_shards",
                        "version",
                        "version_type",
                    ],
                )?;
                let op = match p.get("op_type") {
                    Some("create") => OpType::Create,
                    None | Some("index") => OpType::Index,
                    Some(other) => {
                        return Err(EsError::bad_request(&format!(
                            "opType must be 'create' or 'index', found: [{other}]"
                        )))
                    }
                };
                write_doc(ctx, req, &p, &index, &id, op)
            }
        },
        Endpoint::Create(index, id) => {
            let p = Params::check(
                req,
                &[
                    "refresh",
                    "routing",
                    "pipeline",
                    "require_alias",
                    "wait_for_active_shards",
                ],
            )?;
            write_doc(ctx, req, &p, &index, &id, OpType::Create)
        }
        Endpoint::Update(index, id) => {
            let p = Params::check(
                req,
                &[
                    "refresh",
                    "if_seq_no",
                    "if_primary_term",
                    "routing",
                    "retry_on_conflict",
                    "wait_for_active_shards",
                    "_source",
                    "require_alias",
                ],
            )?;
            let body = json_body(req)?
                .ok_or_else(|| EsError::validation(&["script or doc is missing"]))?;
            let outcome = update_item(ctx.store, &index, &id, &body, p.if_match()?)?;
            let refresh = p.refresh()?;
            if refresh.is_some() {
                if let Some(i) = ctx.store.indices.get_mut(&index) {
                    i.refresh();
                }
            }
            Ok(Response::json(
                outcome.status,
                &write_json(ctx.flavor, &index, &outcome, refresh),
            ))
        }
        Endpoint::Index(index) => index_admin(ctx, req, &index),
        Endpoint::Mapping(index) => {
            let p = Params::check(req, INDICES_OPTIONS)?;
            let names = ctx.store.resolve(&index, p.indices_options()?)?;
            let mut out = Map::new();
            for n in names {
                out.insert(
                    n.clone(),
                    json!({"mappings": ctx.store.indices[&n].mapping.to_json()}),
                );
            }
            Ok(Response::json(200, &Value::Object(out)))
        }
    }
}

fn root(ctx: &mut Context, req: &Request) -> EsResult<Response> {
    Params::check(req, &[])?;
    let (number, lucene, wire, index_compat, date) = match ctx.flavor {
        Flavor::Es7_10 => (
            "7.10.2",
            "8.7.0",
            "6.8.0",
            "6.0.0-beta1",
            "2021-01-13T00:42:12.435326Z",
        ),
        Flavor::Es7_17 => (
            "7.17.24",
            "8.11.3",
            "6.8.0",
            "6.0.0-beta1",
            "2024-09-24T10:19:46.829545468Z",
        ),
        Flavor::Es8 => (
            "8.15.0",
            "9.11.1",
            "7.17.0",
            "7.0.0",
            "2024-08-05T10:05:34.233336849Z",
        ),
        Flavor::Es9 => (
            "9.1.0",
            "10.2.2",
            "8.19.0",
            "8.0.0",
            "2025-07-22T12:06:38.209488928Z",
        ),
    };
    Ok(Response::json(
        200,
        &json!({
            "name": "k8scop-test-node",
            "cluster_name": "k8scop-test",
            "cluster_uuid": ctx.cluster_uuid,
            "version": {
                "number": number,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": date,
                "build_snapshot": false,
                "lucene_version": lucene,
                "minimum_wire_compatibility_version": wire,
                "minimum_index_compatibility_version": index_compat
            },
            "tagline": "You Know, for Search"
        }),
    ))
}

/// The response of an index, create, update or delete.
fn write_json(flavor: Flavor, index: &str, o: &WriteOutcome, refresh: Option<bool>) -> Value {
    let mut m = Map::new();
    m.insert("_index".into(), json!(index));
    if flavor.is_7() {
        m.insert("_type".into(), json!("_doc"));
    }
    m.insert("_id".into(), json!(o.id));
    m.insert("_version".into(), json!(o.version));
    m.insert("result".into(), json!(o.result));
    if refresh == Some(true) && o.result != "noop" {
        m.insert("forced_refresh".into(), json!(true));
    }
    m.insert(
        "_shards".into(),
        if o.result == "noop" {
            shards_json(0, 0)
        } else {
            shards_json(2, 1)
        },
    );
    m.insert("_seq_no".into(), json!(o.seq_no));
    m.insert("_primary_term".into(), json!(super::store::PRIMARY_TERM));
    Value::Object(m)
}

fn write_doc(
    ctx: &mut Context,
    req: &Request,
    p: &Params,
    index: &str,
    id: &str,
    op: OpType,
) -> EsResult<Response> {
    if p.get("pipeline").is_some() {
        return Err(EsError::unsupported("[pipeline] (ingest pipelines)"));
    }
    let refresh = p.refresh()?;
    let if_match = p.if_match()?;
    let body = json_body(req)?
        .ok_or_else(|| EsError::validation(&["source is missing", "content type is missing"]))?;
    if id.len() > 512 {
        return Err(EsError::validation(&[&format!(
            "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
            id.len()
        )]));
    }
    let idx = ctx.store.index_for_write(index)?;
    let outcome = idx.write(id, body, op, if_match)?;
    if refresh.is_some() {
        idx.refresh();
    }
    let out = write_json(ctx.flavor, index, &outcome, refresh);
    Ok(Response::json(outcome.status, &out).header("location", &format!("/{index}/_doc/{id}")))
}

fn get_doc(ctx: &mut Context, req: &Request, index: &str, id: &str) -> EsResult<Response> {
    let p = Params::check(
        req,
        &[
            "_source",
            "_source_includes",
            "_source_excludes",
            "realtime",
            "refresh",
            "routing",
            "preference",
            "stored_fields",
            "version",
            "version_type",
        ],
    )?;
    let Some(idx) = ctx.store.indices.get(index) else {
        return Err(EsError::index_not_found(index));
    };
    let mut m = Map::new();
    m.insert("_index".into(), json!(index));
    if ctx.flavor.is_7() {
        m.insert("_type".into(), json!("_doc"));
    }
    m.insert("_id".into(), json!(id));
    match idx.get(id) {
        Some(doc) => {
            m.insert("_version".into(), json!(doc.version));
            m.insert("_seq_no".into(), json!(doc.seq_no));
            m.insert("_primary_term".into(), json!(super::store::PRIMARY_TERM));
            m.insert("found".into(), json!(true));
            let filter = source_filter_params(&p)?;
            if !filter.disabled {
                m.insert("_source".into(), filter.apply(&doc.source));
            }
            Ok(Response::json(200, &Value::Object(m)))
        }
        None => {
            m.insert("found".into(), json!(false));
            Ok(Response::json(404, &Value::Object(m)))
        }
    }
}

fn source_filter_params(p: &Params) -> EsResult<SourceFilter> {
    let mut f = SourceFilter::default();
    match p.get("_source") {
        None | Some("true") => {}
        Some("false") => f.disabled = true,
        Some(list) => f.includes = list.split(',').map(str::to_string).collect(),
    }
    if let Some(list) = p.get("_source_includes") {
        f.includes = list.split(',').map(str::to_string).collect();
    }
    if let Some(list) = p.get("_source_excludes") {
        f.excludes = list.split(',').map(str::to_string).collect();
    }
    Ok(f)
}

fn update_item(
    store: &mut Store,
    index: &str,
    id: &str,
    body: &Value,
    if_match: Option<IfMatch>,
) -> EsResult<WriteOutcome> {
    let Some(obj) = body.as_object() else {
        return Err(EsError::parsing("update request body must be an object"));
    };
    for k in obj.keys() {
        match k.as_str() {
            "doc" | "doc_as_upsert" | "upsert" | "detect_noop" | "_source" => {}
            "script" | "scripted_upsert" => {
                return Err(EsError::unsupported("[script] in an update"))
            }
            other => {
                return Err(EsError::new(
                    400,
                    "x_content_parse_exception",
                    &format!("[1:2] [UpdateRequest] unknown field [{other}]"),
                ))
            }
        }
    }
    let doc = obj
        .get("doc")
        .ok_or_else(|| EsError::validation(&["script or doc is missing"]))?;
    let doc_as_upsert = obj
        .get("doc_as_upsert")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Elasticsearch creates a missing index even when the document then turns out missing.
    let idx = store.index_for_write(index)?;
    idx.update(id, doc, obj.get("upsert"), doc_as_upsert, if_match)
}

/// `POST /_bulk` and `POST /{index}/_bulk`.
fn bulk(ctx: &mut Context, req: &Request, default_index: Option<&str>) -> EsResult<Response> {
    let p = Params::check(
        req,
        &[
            "refresh",
            "routing",
            "pipeline",
            "require_alias",
            "require_data_stream",
            "wait_for_active_shards",
            "_source",
            "_source_includes",
            "_source_excludes",
            "list_executed_pipelines",
            "include_source_on_error",
        ],
    )?;
    if p.get("pipeline").is_some() {
        return Err(EsError::unsupported("[pipeline] (ingest pipelines)"));
    }
    let refresh = p.refresh()?;
    let body = &req.body;
    if body.is_empty() {
        return Err(EsError::validation(&["no requests added"]));
    }
    if body.last() != Some(&b'\n') {
        return Err(EsError::bad_request(
            "The bulk request must be terminated by a newline [\\n]",
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| EsError::bad_request("bulk body is not UTF-8"))?;
    let lines: Vec<&str> = text.split('\n').collect();
    // Parse every action first: a malformed action line fails the whole request.
    struct Action {
        kind: String,
        index: String,
        id: Option<String>,
        if_match: Option<IfMatch>,
        source: Option<String>,
    }
    let mut actions = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let line_no = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let meta: Value = serde_json::from_str(line).map_err(|e| {
            EsError::new(
                400,
                "x_content_parse_exception",
                &format!(
                    "[{line_no}:{}] Malformed action/metadata line [{line_no}]: {e}",
                    e.column()
                ),
            )
        })?;
        let Some(obj) = meta.as_object().filter(|o| o.len() == 1) else {
            return Err(EsError::bad_request(&format!(
                "Malformed action/metadata line [{line_no}], expected START_OBJECT or END_OBJECT but found [{}]",
                if meta.is_object() { "FIELD_NAME" } else { "VALUE" }
            )));
        };
        let (kind, params) = obj.iter().next().expect("one entry");
        if !["index", "create", "update", "delete"].contains(&kind.as_str()) {
            return Err(EsError::bad_request(&format!(
                "Malformed action/metadata line [{line_no}], expected field [create], [delete], [index] or [update] but found [{kind}]"
            )));
        }
        let params = params.as_object().cloned().unwrap_or_default();
        let mut index = default_index.map(str::to_string);
        let mut id = None;
        let (mut seq, mut term) = (None, None);
        for (k, v) in &params {
            match k.as_str() {
                "_index" => index = v.as_str().map(str::to_string),
                "_id" => id = Some(super::mapping::keyword_text(v)),
                "if_seq_no" => seq = v.as_i64(),
                "if_primary_term" => term = v.as_i64(),
                "pipeline" => return Err(EsError::unsupported("[pipeline] (ingest pipelines)")),
                "routing"
                | "require_alias"
                | "retry_on_conflict"
                | "dynamic_templates"
                | "_source"
                | "op_type"
                | "list_executed_pipelines"
                | "require_data_stream" => {}
                other => {
                    return Err(EsError::bad_request(&format!(
                        "Action/metadata line [{line_no}] contains an unknown parameter [{other}]"
                    )))
                }
            }
        }
        let Some(index) = index else {
            return Err(EsError::validation(&["index is missing"]));
        };
        let if_match = match (seq, term) {
            (Some(seq_no), Some(primary_term)) => Some(IfMatch {
                seq_no,
                primary_term,
            }),
            _ => None,
        };
        let source = if kind == "delete" {
            None
        } else {
            let Some(src) = lines
                .get(i)
                .filter(|l| !l.trim().is_empty() || i + 1 < lines.len())
            else {
                return Err(EsError::bad_request(&format!(
                    "action [{kind}] on line [{line_no}] has no source line"
                )));
            };
            i += 1;
            Some(src.to_string())
        };
        actions.push(Action {
            kind: kind.clone(),
            index,
            id,
            if_match,
            source,
        });
    }
    if actions.is_empty() {
        return Err(EsError::validation(&["no requests added"]));
    }
    let mut items = Vec::new();
    let mut errors = false;
    let mut touched: Vec<String> = Vec::new();
    let fault = ctx.bulk_fault.take();
    for (n, action) in actions.into_iter().enumerate() {
        let id = match (&action.id, action.kind.as_str()) {
            (Some(id), _) => id.clone(),
            (None, "index" | "create") => ctx.store.new_id(20),
            (None, _) => {
                let item = failure_json(
                    ctx.flavor,
                    &action.index,
                    "",
                    400,
                    exception(
                        "action_request_validation_exception",
                        "Validation Failed: 1: id is missing;",
                    ),
                );
                errors = true;
                items.push(json!({action.kind.clone(): item}));
                continue;
            }
        };
        let injected = fault
            .as_ref()
            .filter(|f| f.every_nth > 0 && (n + 1) % f.every_nth == 0);
        let result: EsResult<WriteOutcome> = if let Some(f) = injected {
            Err(injected_item_error(f.status, &action.index, &id))
        } else {
            match action.kind.as_str() {
                "delete" => match ctx.store.indices.get_mut(&action.index) {
                    Some(idx) => idx.delete(&id, action.if_match),
                    None => Err(EsError::index_not_found(&action.index)),
                },
                kind => {
                    let source = action.source.as_deref().unwrap_or_default();
                    match serde_json::from_str::<Value>(source) {
                        Err(e) => {
                            let mut ex = exception("mapper_parsing_exception", "failed to parse");
                            ex.insert(
                                "caused_by".into(),
                                Value::Object(exception("json_parse_exception", &e.to_string())),
                            );
                            Err(EsError::from_exception(400, ex))
                        }
                        Ok(doc) if kind == "update" => {
                            update_item(ctx.store, &action.index, &id, &doc, action.if_match)
                        }
                        Ok(doc) => {
                            let op = if kind == "create" {
                                OpType::Create
                            } else {
                                OpType::Index
                            };
                            ctx.store
                                .index_for_write(&action.index)
                                .and_then(|idx| idx.write(&id, doc, op, action.if_match))
                        }
                    }
                }
            }
        };
        let item = match result {
            Ok(outcome) => {
                if !touched.contains(&action.index) {
                    touched.push(action.index.clone());
                }
                let mut v = write_json(ctx.flavor, &action.index, &outcome, refresh);
                v["status"] = json!(outcome.status);
                v
            }
            Err(EsError(response)) => {
                errors = true;
                let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                let mut error = body["error"].as_object().cloned().unwrap_or_default();
                error.remove("root_cause");
                failure_json(ctx.flavor, &action.index, &id, response.status, error)
            }
        };
        items.push(json!({action.kind: item}));
    }
    if refresh.is_some() {
        for name in &touched {
            if let Some(i) = ctx.store.indices.get_mut(name) {
                i.refresh();
            }
        }
    }
    Ok(Response::json(
        200,
        &json!({"errors": errors, "took": 1, "items": items}),
    ))
}

fn failure_json(
    flavor: Flavor,
    index: &str,
    id: &str,
    status: u16,
    error: Map<String, Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("_index".into(), json!(index));
    if flavor.is_7() {
        m.insert("_type".into(), json!("_doc"));
    }
    m.insert("_id".into(), json!(id));
    m.insert("status".into(), json!(status));
    m.insert("error".into(), Value::Object(error));
    Value::Object(m)
}

/// The error of a bulk item failed on purpose by a [`super::Fault::BulkItems`].
fn injected_item_error(status: u16, index: &str, id: &str) -> EsError {
    let e = match status {
        429 => exception(
            "es_rejected_execution_exception",
            "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1024, max_coordinating_and_primary_bytes=107374182]",
        ),
        400 => index_exception(
            "mapper_parsing_exception",
            &format!("failed to parse field [@timestamp] of type [date] in document with id '{id}'. Preview of field's value: 'not-a-date'"),
            index,
            true,
        ),
        409 => index_exception(
            "version_conflict_engine_exception",
            &format!("[{id}]: version conflict, document already exists (current version [1])"),
            index,
            true,
        ),
        503 => index_exception(
            "unavailable_shards_exception",
            &format!("[{index}][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[{index}][0]] containing [1] requests]"),
            index,
            true,
        ),
        _ => exception("exception", &format!("injected failure with status {status}")),
    };
    EsError::from_exception(status, e)
}

fn template(ctx: &mut Context, req: &Request, name: &str) -> EsResult<Response> {
    match req.method.as_str() {
        "PUT" | "POST" => {
            let p = Params::check(req, &["create", "cause"])?;
            let body =
                json_body(req)?.ok_or_else(|| EsError::parsing("request body is required"))?;
            let normalized = normalize_template(&body)?;
            if p.flag("create")? == Some(true) && ctx.store.templates.contains_key(name) {
                return Err(EsError::bad_request(&format!(
                    "index template [{name}] already exists"
                )));
            }
            ctx.store.templates.insert(name.to_string(), normalized);
            Ok(Response::json(200, &json!({"acknowledged": true})))
        }
        "DELETE" => {
            Params::check(req, &[])?;
            if ctx.store.templates.remove(name).is_none() {
                return Err(EsError::new(
                    404,
                    "resource_not_found_exception",
                    &format!("index_template [{name}] missing"),
                ));
            }
            Ok(Response::json(200, &json!({"acknowledged": true})))
        }
        _ => {
            Params::check(req, &["flat_settings", "local", "include_defaults"])?;
            let found: Vec<Value> = ctx
                .store
                .templates
                .iter()
                .filter(|(n, _)| name.split(',').any(|pat| super::store::glob(pat, n)))
                .map(|(n, t)| template_json(n, t))
                .collect();
            if found.is_empty() {
                return Err(EsError::new(
                    404,
                    "resource_not_found_exception",
                    &format!("index template matching [{name}] not found"),
                ));
            }
            Ok(Response::json(200, &json!({"index_templates": found})))
        }
    }
}

fn index_admin(ctx: &mut Context, req: &Request, index: &str) -> EsResult<Response> {
    match req.method.as_str() {
        "PUT" => {
            Params::check(req, &["wait_for_active_shards"])?;
            let body = json_body(req)?.unwrap_or(json!({}));
            let mut mapping = None;
            let mut settings = json!({});
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                match k.as_str() {
                    "mappings" => mapping = Some(Mapping::from_json(&v)?),
                    "settings" => settings = v,
                    "aliases" if v.as_object().is_some_and(Map::is_empty) => {}
                    "aliases" => return Err(EsError::unsupported("[aliases]")),
                    other => {
                        return Err(EsError::parsing(&format!(
                            "unknown key [{other}] for create index"
                        )))
                    }
                }
            }
            ctx.store.create_index(index, mapping, settings)?;
            Ok(Response::json(
                200,
                &json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
            ))
        }
        "DELETE" => {
            let p = Params::check(req, INDICES_OPTIONS)?;
            if index.contains('*') || index == "_all" {
                return Err(EsError::bad_request(
                    "Wildcard expressions or all indices are not allowed",
                ));
            }
            let names = ctx.store.resolve(index, p.indices_options()?)?;
            for n in names {
                ctx.store.indices.remove(&n);
            }
            Ok(Response::json(200, &json!({"acknowledged": true})))
        }
        "HEAD" => {
            let p = Params::check(req, INDICES_OPTIONS)?;
            match ctx.store.resolve(index, p.indices_options()?) {
                Ok(names) if !names.is_empty() => Ok(Response::empty(200)),
                _ => Ok(Response::empty(404)),
            }
        }
        _ => {
            let p = Params::check(req, INDICES_OPTIONS)?;
            let names = ctx.store.resolve(index, p.indices_options()?)?;
            let mut out = Map::new();
            for n in names {
                let idx = &ctx.store.indices[&n];
                out.insert(
                    n.clone(),
                    json!({
                        "aliases": {},
                        "mappings": idx.mapping.to_json(),
                        "settings": {"index": {"uuid": idx.uuid, "provided_name": n, "number_of_shards": "1", "number_of_replicas": "1", "custom": idx.settings}}
                    }),
                );
            }
            Ok(Response::json(200, &Value::Object(out)))
        }
    }
}

const SEARCH_PARAMS: &[&str] = &[
    "size",
    "from",
    "sort",
    "track_total_hits",
    "_source",
    "_source_includes",
    "_source_excludes",
    "seq_no_primary_term",
    "version",
    "rest_total_hits_as_int",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "preference",
    "routing",
    "request_cache",
    "typed_keys",
    "batched_reduce_size",
    "pre_filter_shard_size",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "search_type",
    "q",
    "track_scores",
    "max_concurrent_shard_requests",
    "ignore_throttled",
];

fn search(ctx: &mut Context, req: &Request, index: Option<&str>) -> EsResult<Response> {
    let p = Params::check(req, SEARCH_PARAMS)?;
    if p.get("q").is_some() {
        return Err(EsError::unsupported("[q] (query string searches)"));
    }
    let body = json_body(req)?;
    let mut sr = SearchRequest::from_body(body.as_ref())?;
    if let Some(n) = p.number("size")? {
        sr.size = usize::try_from(n).map_err(|_| {
            EsError::bad_request(&format!("[size] parameter cannot be negative, found [{n}]"))
        })?;
    }
    if let Some(n) = p.number("from")? {
        sr.from = usize::try_from(n).map_err(|_| {
            EsError::bad_request(&format!("[from] parameter cannot be negative, found [{n}]"))
        })?;
    }
    if let Some(s) = p.get("sort") {
        sr.sort = search::parse_sort_param(s)?;
    }
    match p.get("track_total_hits") {
        None => {}
        Some("" | "true") => sr.track_total_hits = TrackTotal::Exact,
        Some("false") => sr.track_total_hits = TrackTotal::Off,
        Some(n) => {
            sr.track_total_hits = TrackTotal::UpTo(n.parse().map_err(|_| {
                EsError::bad_request(&format!(
                    "Failed to parse int parameter [track_total_hits] with value [{n}]"
                ))
            })?)
        }
    }
    if p.get("_source").is_some()
        || p.get("_source_includes").is_some()
        || p.get("_source_excludes").is_some()
    {
        sr.source = source_filter_params(&p)?;
    }
    if let Some(b) = p.flag("seq_no_primary_term")? {
        sr.seq_no_primary_term = b;
    }
    if let Some(b) = p.flag("version")? {
        sr.version = b;
    }
    sr.total_as_int = p.flag("rest_total_hits_as_int")?.unwrap_or(false);
    let caps = ctx.flavor.capabilities();
    let now = now();
    if let Some((pit_id, keep_alive)) = sr.pit.clone() {
        if index.is_some() {
            return Err(EsError::validation(&[
                "[indices] cannot be used with point in time. Do not specify any index with point in time.",
            ]));
        }
        if p.get("routing").is_some() || p.get("preference").is_some() {
            return Err(EsError::validation(&["[routing] cannot be used with point in time. Do not specify any routing with point in time."]));
        }
        ctx.store.reap_pits();
        let Some(pit) = ctx.store.pits.get_mut(&pit_id) else {
            return Err(pit_missing(&pit_id));
        };
        pit.last_used = std::time::Instant::now();
        if let Some(k) = keep_alive {
            pit.keep_alive = k;
        }
        let shards = pit.shards.clone();
        let out = search::execute(&sr, &shards, caps, Some(&pit_id), now)?;
        return Ok(Response::json(200, &out));
    }
    let names = ctx
        .store
        .resolve(index.unwrap_or("_all"), p.indices_options()?)?;
    let shards = ctx.store.shards(&names);
    let out = search::execute(&sr, &shards, caps, None, now)?;
    Ok(Response::json(200, &out))
}

/// 404 `search_context_missing_exception`, as for an expired or closed point in time.
pub fn pit_missing(pit_id: &str) -> EsError {
    let context = super::pit_context_number(pit_id);
    let cause = exception(
        "search_context_missing_exception",
        &format!("No search context found for id [{context}]"),
    );
    let mut e = exception("search_phase_execution_exception", "all shards failed");
    e.insert("phase".into(), json!("query"));
    e.insert("grouped".into(), json!(true));
    e.insert(
        "failed_shards".into(),
        json!([{"shard": -1, "index": null, "reason": Value::Object(cause.clone())}]),
    );
    e.insert("caused_by".into(), Value::Object(cause));
    EsError::from_exception(404, e)
}

fn count(ctx: &mut Context, req: &Request, index: Option<&str>) -> EsResult<Response> {
    let p = Params::check(
        req,
        &[
            "ignore_unavailable",
            "allow_no_indices",
            "expand_wildcards",
            "routing",
            "preference",
            "q",
            "min_score",
            "terminate_after",
            "ignore_throttled",
        ],
    )?;
    if p.get("q").is_some() {
        return Err(EsError::unsupported("[q] (query string searches)"));
    }
    let mut query = Query::MatchAll;
    if let Some(body) = json_body(req)? {
        for (k, v) in body.as_object().cloned().unwrap_or_default() {
            match k.as_str() {
                "query" => query = search::parse_query(&v)?,
                other => {
                    return Err(EsError::parsing(&format!(
                        "request does not support [{other}]"
                    )))
                }
            }
        }
    }
    let names = ctx
        .store
        .resolve(index.unwrap_or("_all"), p.indices_options()?)?;
    let shards = ctx.store.shards(&names);
    let n = search::count(&query, &shards, now())?;
    Ok(Response::json(
        200,
        &json!({"count": n, "_shards": {"total": shards.len(), "successful": shards.len(), "skipped": 0, "failed": 0}}),
    ))
}

fn open_pit(ctx: &mut Context, req: &Request, index: &str) -> EsResult<Response> {
    let p = Params::check(
        req,
        &[
            "keep_alive",
            "ignore_unavailable",
            "expand_wildcards",
            "allow_partial_search_results",
            "preference",
            "routing",
            "max_concurrent_shard_requests",
        ],
    )?;
    let Some(keep_alive) = p.get("keep_alive") else {
        return Err(EsError::validation(&["[keep_alive] is not specified"]));
    };
    let keep_alive: Duration = parse_time(keep_alive, "keep_alive")?;
    if json_body(req)?.is_some_and(|b| b.get("index_filter").is_some()) {
        return Err(EsError::unsupported(
            "[index_filter] when opening a point in time",
        ));
    }
    let names = ctx.store.resolve(index, p.indices_options()?)?;
    let shards = ctx.store.shards(&names);
    let id = super::new_pit_id(ctx.store);
    let n = shards.len();
    ctx.store.pits.insert(
        id.clone(),
        Pit {
            shards,
            keep_alive,
            last_used: std::time::Instant::now(),
        },
    );
    let body = if ctx.flavor.is_7() {
        json!({"id": id})
    } else {
        json!({"id": id, "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0}})
    };
    Ok(Response::json(200, &body))
}

fn close_pit(ctx: &mut Context, req: &Request) -> EsResult<Response> {
    Params::check(req, &[])?;
    let body =
        json_body(req)?.ok_or_else(|| EsError::validation(&["point-in-time id is missing"]))?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| EsError::validation(&["point-in-time id is missing"]))?;
    ctx.store.reap_pits();
    let freed = usize::from(ctx.store.pits.remove(id).is_some());
    Ok(Response::json(
        if freed == 1 { 200 } else { 404 },
        &json!({"succeeded": true, "num_freed": freed}),
    ))
}
