//! Elasticsearch's error bodies: `{"error":{"root_cause":[..],"type","reason",..},"status"}` and
//! the bare forms of the REST layer (`{"error":"no handler found ..."}`).

use serde_json::{json, Map, Value};

use super::http::Response;

/// An error response, ready to send.
#[derive(Debug)]
pub struct EsError(pub Response);

pub type EsResult<T> = Result<T, EsError>;

/// An exception object: `type`, `reason`, then extra fields (`index`, `caused_by`, ...).
pub fn exception(kind: &str, reason: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), kind.into());
    m.insert("reason".into(), reason.into());
    m
}

/// The exception with `index`, `index_uuid` (and `shard`) as Elasticsearch adds them to errors
/// about one index.
pub fn index_exception(kind: &str, reason: &str, index: &str, shard: bool) -> Map<String, Value> {
    let mut m = exception(kind, reason);
    m.insert("index_uuid".into(), "_na_".into());
    if shard {
        m.insert("shard".into(), "0".into());
    }
    m.insert("index".into(), index.into());
    m
}

/// The innermost `caused_by`, which Elasticsearch reports as the root cause.
fn root_cause(e: &Map<String, Value>) -> Map<String, Value> {
    match e.get("caused_by").and_then(Value::as_object) {
        Some(inner)
            if e.get("type").and_then(Value::as_str)
                == Some("search_phase_execution_exception") =>
        {
            root_cause(inner)
        }
        _ => {
            let mut top = e.clone();
            top.remove("caused_by");
            top
        }
    }
}

/// The full error body for `status` around the exception `e`.
pub fn error_body(status: u16, e: Map<String, Value>) -> Value {
    let mut error = Map::new();
    error.insert("root_cause".into(), json!([Value::Object(root_cause(&e))]));
    error.extend(e);
    json!({"error": Value::Object(error), "status": status})
}

impl EsError {
    /// An error with one exception.
    pub fn new(status: u16, kind: &str, reason: &str) -> EsError {
        EsError::from_exception(status, exception(kind, reason))
    }

    pub fn from_exception(status: u16, e: Map<String, Value>) -> EsError {
        EsError(Response::json(status, &error_body(status, e)))
    }

    /// 400 `illegal_argument_exception`.
    pub fn bad_request(reason: &str) -> EsError {
        EsError::new(400, "illegal_argument_exception", reason)
    }

    /// 400 `parsing_exception`, for request bodies this server cannot read.
    pub fn parsing(reason: &str) -> EsError {
        EsError::new(400, "parsing_exception", reason)
    }

    /// 400 `action_request_validation_exception` with Elasticsearch's numbered list.
    pub fn validation(problems: &[&str]) -> EsError {
        let mut reason = String::from("Validation Failed: ");
        for (i, p) in problems.iter().enumerate() {
            reason.push_str(&format!("{}: {p};", i + 1));
        }
        EsError::new(400, "action_request_validation_exception", &reason)
    }

    /// 404 `index_not_found_exception`.
    pub fn index_not_found(index: &str) -> EsError {
        let mut e = index_exception(
            "index_not_found_exception",
            &format!("no such index [{index}]"),
            index,
            false,
        );
        e.insert("resource.type".into(), "index_or_alias".into());
        e.insert("resource.id".into(), index.into());
        EsError::from_exception(404, e)
    }

    /// A failure of the query phase on every shard, as `search_phase_execution_exception`.
    pub fn shard_failure(status: u16, cause: Map<String, Value>, index: Option<&str>) -> EsError {
        let mut e = exception("search_phase_execution_exception", "all shards failed");
        e.insert("phase".into(), "query".into());
        e.insert("grouped".into(), true.into());
        e.insert(
            "failed_shards".into(),
            json!([{"shard": 0, "index": index, "node": "k8scop-test-node", "reason": Value::Object(cause.clone())}]),
        );
        e.insert("caused_by".into(), Value::Object(cause));
        EsError::from_exception(status, e)
    }

    /// The bare form the REST layer uses for a path no handler serves (status 400, no `status`).
    pub fn no_handler(uri: &str, method: &str) -> EsError {
        EsError(Response::json(
            400,
            &json!({"error": format!("no handler found for uri [{uri}] and method [{method}]")}),
        ))
    }

    /// 405 for a known path with another method, with the `Allow` header.
    pub fn method_not_allowed(uri: &str, method: &str, allowed: &[&str]) -> EsError {
        EsError(
            Response::json(
                405,
                &json!({
                    "error": format!(
                        "Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{}]",
                        allowed.join(", ")
                    ),
                    "status": 405
                }),
            )
            .header("allow", &allowed.join(",")),
        )
    }

    /// A feature of Elasticsearch this server does not implement: 400 with what it is.
    pub fn unsupported(what: &str) -> EsError {
        EsError::parsing(&format!(
            "{what} is not supported by the k8scop test server"
        ))
    }
}
