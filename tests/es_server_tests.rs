//! The Elasticsearch-compatible test server against its contract: every endpoint, each fault,
//! point-in-time snapshots, `search_after` paging, range boundaries and authentication, through
//! a real HTTP client (reqwest, as k8scop uses).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::es_server::{Auth, EsOptions, EsServer, Fault, Flavor};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a reqwest client")
}

/// One response: status, headers, body as JSON (`Null` when empty or not JSON).
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The `error.type` and `error.reason` of an Elasticsearch error body.
    fn error(&self) -> (&str, &str) {
        (
            self.json["error"]["type"].as_str().unwrap_or_default(),
            self.json["error"]["reason"].as_str().unwrap_or_default(),
        )
    }
}

fn send(rb: reqwest::blocking::RequestBuilder) -> Reply {
    let r = rb.send().expect("the test server answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        json,
    }
}

fn call(es: &EsServer, method: &str, path: &str, body: Option<Value>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut rb = client().request(method, format!("{}{path}", es.url()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    send(rb)
}

fn bulk(es: &EsServer, path: &str, ndjson: &str) -> Reply {
    send(
        client()
            .post(format!("{}{path}", es.url()))
            .header("content-type", "application/x-ndjson")
            .body(ndjson.to_string()),
    )
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {}", reply.text))
        .iter()
        .map(|h| h["_id"].as_str().expect("an _id").to_string())
        .collect()
}

fn es8() -> EsServer {
    EsServer::start(EsOptions::default())
}

#[test]
fn root_reports_the_flavor_and_head_answers() {
    for (flavor, number) in [
        (Flavor::Es7_10, "7.10.2"),
        (Flavor::Es7_17, "7.17.24"),
        (Flavor::Es8, "8.15.0"),
        (Flavor::Es9, "9.1.0"),
    ] {
        let es = EsServer::start(EsOptions {
            flavor,
            ..EsOptions::default()
        });
        assert_eq!(flavor.version(), number);
        let r = call(&es, "GET", "/", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.json["version"]["number"], number);
        assert_eq!(r.json["version"]["build_flavor"], "default");
        assert_eq!(r.json["tagline"], "You Know, for Search");
        assert!(r.json["cluster_uuid"]
            .as_str()
            .is_some_and(|u| u.len() == 22));
        // Clients of 7.14+ check this header; 7.10 did not send it.
        let product = r.header("x-elastic-product");
        assert_eq!(
            product,
            (flavor != Flavor::Es7_10).then_some("Elasticsearch"),
            "{flavor:?}"
        );
        let head = call(&es, "HEAD", "/", None);
        assert_eq!((head.status, head.text.as_str()), (200, ""));
        assert!(es.url().ends_with(&format!(":{}", es.port())));
    }
}

#[test]
fn unknown_paths_methods_parameters_and_content_types_are_refused_like_elasticsearch() {
    let es = es8();
    let r = call(&es, "GET", "/_nope/x", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json,
        json!({"error": "no handler found for uri [/_nope/x] and method [GET]"})
    );
    // OpenSearch's PIT endpoint does not exist on Elasticsearch.
    let r = call(
        &es,
        "POST",
        "/logs/_search/point_in_time?keep_alive=1m",
        None,
    );
    assert_eq!(
        r.json["error"],
        "no handler found for uri [/logs/_search/point_in_time] and method [POST]"
    );
    let r = call(&es, "GET", "/_bulk", None);
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json["error"],
        "Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]"
    );
    assert_eq!(r.header("allow"), Some("POST,PUT"));
    let r = call(&es, "GET", "/_search?sizee=1", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "illegal_argument_exception",
            "request [/_search] contains unrecognized parameter: [sizee]"
        )
    );
    let r = send(
        client()
            .post(format!("{}/logs/_doc/1", es.url()))
            .header("content-type", "text/plain")
            .body("{}"),
    );
    assert_eq!(r.status, 406);
    assert_eq!(
        r.json["error"],
        "Content-Type header [text/plain] is not supported"
    );
    let r = send(
        client()
            .post(format!("{}/logs/_doc/1", es.url()))
            .header("content-type", "application/json")
            .body("{oops"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error().0, "x_content_parse_exception");
    let r = call(&es, "POST", "/_search", Some(json!({"aggs": {}})));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "parsing_exception",
            "[aggs] in a search request is not supported by the k8scop test server"
        )
    );
    let r = call(&es, "POST", "/_search", Some(json!({"sizes": 1})));
    assert_eq!(
        r.error(),
        (
            "parsing_exception",
            "Unknown key for a VALUE_NUMBER in [sizes]."
        )
    );
    // Every error body carries root_cause and status.
    assert_eq!(r.json["status"], 400);
    assert_eq!(
        r.json["error"]["root_cause"][0]["type"],
        "parsing_exception"
    );
}

fn check_auth(auth: Auth, wrong: &str, wrong_reason: &str) {
    let es = EsServer::start(EsOptions {
        auth: Some(auth.clone()),
        ..EsOptions::default()
    });
    let r = call(&es, "GET", "/_search?size=1", None);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.error(),
        (
            "security_exception",
            "missing authentication credentials for REST request [/_search?size=1]"
        )
    );
    assert_eq!(
        r.headers_all("www-authenticate"),
        [
            "Basic realm=\"security\", charset=\"UTF-8\"",
            "Bearer realm=\"security\"",
            "ApiKey"
        ]
    );
    assert_eq!(r.json["error"]["header"]["WWW-Authenticate"][2], "ApiKey");
    assert_eq!(r.header("x-elastic-product"), None);
    let r = send(
        client()
            .get(format!("{}/", es.url()))
            .header("authorization", wrong),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.error().1, wrong_reason);
    let r = send(
        client()
            .get(format!("{}/", es.url()))
            .header("authorization", auth.header_value()),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let head = send(client().head(format!("{}/", es.url())));
    assert_eq!((head.status, head.text.as_str()), (401, ""));
}

#[test]
fn basic_auth_accepts_the_right_user_and_password_only() {
    let auth = Auth::Basic {
        user: "elastic".into(),
        password: "s3cret".into(),
    };
    assert_eq!(auth.header_value(), "Basic ZWxhc3RpYzpzM2NyZXQ=");
    let wrong = Auth::Basic {
        user: "elastic".into(),
        password: "nope".into(),
    }
    .header_value();
    check_auth(
        auth,
        &wrong,
        "unable to authenticate user [elastic] for REST request [/]",
    );
}

#[test]
fn api_key_auth_accepts_the_right_key_only() {
    let auth = Auth::ApiKey {
        id: "VuaCfGcBCdbkQm-e5aOx".into(),
        key: "ui2lp2axTNmsyakw9tvNnw".into(),
    };
    let wrong = Auth::ApiKey {
        id: "VuaCfGcBCdbkQm-e5aOx".into(),
        key: "wrong".into(),
    }
    .header_value();
    let es = EsServer::start(EsOptions {
        auth: Some(auth.clone()),
        ..EsOptions::default()
    });
    let r = send(
        client()
            .get(format!("{}/", es.url()))
            .header("authorization", &wrong),
    );
    assert_eq!(
        r.json["error"]["additional_unsuccessful_credentials"],
        "API key: invalid credentials for API key [VuaCfGcBCdbkQm-e5aOx]"
    );
    drop(es);
    check_auth(
        auth,
        &wrong,
        "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
    );
}

#[test]
fn bearer_auth_accepts_the_right_token_only() {
    let auth = Auth::Bearer("AAEAAWVsYXN0aWMvZmxlZXQtc2VydmVyL3Rva2VuLTE".into());
    check_auth(
        auth,
        "Bearer not-the-token",
        "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
    );
}

#[test]
fn index_templates_are_stored_listed_and_applied_to_new_indices() {
    let es = es8();
    let template = json!({
        "index_patterns": ["alerts-*"],
        "priority": 200,
        "template": {"mappings": {"properties": {
            "rule": {"type": "keyword"},
            "@timestamp": {"type": "date"},
            "score": {"type": "long"}
        }}}
    });
    let r = call(
        &es,
        "PUT",
        "/_index_template/k8scop-alerts",
        Some(template.clone()),
    );
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"acknowledged": true}))
    );
    let r = call(&es, "GET", "/_index_template/k8scop-alerts", None);
    assert_eq!(r.json["index_templates"][0]["name"], "k8scop-alerts");
    assert_eq!(
        r.json["index_templates"][0]["index_template"]["template"],
        template["template"]
    );
    assert_eq!(
        r.json["index_templates"][0]["index_template"]["index_patterns"],
        json!(["alerts-*"])
    );
    assert_eq!(
        es.template("k8scop-alerts").expect("stored")["priority"],
        200
    );
    assert_eq!(
        call(&es, "GET", "/_index_template", None).json["index_templates"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        call(&es, "HEAD", "/_index_template/k8scop-alerts", None).status,
        200
    );
    let r = call(
        &es,
        "PUT",
        "/_index_template/k8scop-alerts?create=true",
        Some(template.clone()),
    );
    assert_eq!(
        r.error(),
        (
            "illegal_argument_exception",
            "index template [k8scop-alerts] already exists"
        )
    );
    let r = call(&es, "GET", "/_index_template/missing", None);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error(),
        (
            "resource_not_found_exception",
            "index template matching [missing] not found"
        )
    );
    let r = call(
        &es,
        "PUT",
        "/_index_template/bad",
        Some(json!({"template": {}})),
    );
    assert_eq!(
        r.error(),
        (
            "action_request_validation_exception",
            "Validation Failed: 1: index patterns are missing;"
        )
    );
    let r = call(
        &es,
        "PUT",
        "/_index_template/bad",
        Some(
            json!({"index_patterns": ["x"], "template": {"mappings": {"properties": {"a": {"type": "nope"}}}}}),
        ),
    );
    assert_eq!(
        r.error(),
        (
            "mapper_parsing_exception",
            "No handler for type [nope] declared on field [a]"
        )
    );
    // The first write creates the index with the template's mapping: a string stays a keyword.
    let r = call(
        &es,
        "PUT",
        "/alerts-2024/_doc/a1?refresh=true",
        Some(json!({"rule": "Exec Into Pod", "@timestamp": "2024-01-01T00:00:00Z", "score": 7})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        es.mapping("alerts-2024").expect("created")["properties"]["rule"],
        json!({"type": "keyword"})
    );
    let r = call(
        &es,
        "POST",
        "/alerts-2024/_search",
        Some(json!({"query": {"term": {"rule": "Exec Into Pod"}}})),
    );
    assert_eq!(ids(&r), ["a1"]);
    // Without a template, dynamic mapping makes it text with a keyword multi-field.
    call(
        &es,
        "PUT",
        "/other/_doc/1",
        Some(json!({"rule": "Exec Into Pod"})),
    );
    assert_eq!(
        es.mapping("other").expect("created")["properties"]["rule"]["type"],
        "text"
    );
    let r = call(
        &es,
        "PUT",
        "/alerts-2024/_doc/a2",
        Some(json!({"score": "high"})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error().0, "mapper_parsing_exception");
    assert_eq!(
        call(&es, "DELETE", "/_index_template/k8scop-alerts", None).json["acknowledged"],
        true
    );
    assert_eq!(
        call(&es, "DELETE", "/_index_template/k8scop-alerts", None).status,
        404
    );
}

#[test]
fn documents_are_written_read_and_deleted_with_optimistic_concurrency() {
    let es = es8();
    let r = call(
        &es,
        "PUT",
        "/state/_doc/cursor",
        Some(json!({"after": [1]})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        (
            r.json["result"].as_str(),
            r.json["_version"].as_i64(),
            r.json["_seq_no"].as_i64(),
            r.json["_primary_term"].as_i64()
        ),
        (Some("created"), Some(1), Some(0), Some(1))
    );
    assert_eq!(
        r.json["_shards"],
        json!({"total": 2, "successful": 1, "failed": 0})
    );
    let r = call(
        &es,
        "PUT",
        "/state/_doc/cursor?if_seq_no=0&if_primary_term=1",
        Some(json!({"after": [2]})),
    );
    assert_eq!(
        (
            r.status,
            r.json["result"].as_str(),
            r.json["_seq_no"].as_i64(),
            r.json["_version"].as_i64()
        ),
        (200, Some("updated"), Some(1), Some(2))
    );
    // A writer holding the old seq_no loses.
    let r = call(
        &es,
        "PUT",
        "/state/_doc/cursor?if_seq_no=0&if_primary_term=1",
        Some(json!({"after": [3]})),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), ("version_conflict_engine_exception", "[cursor]: version conflict, required seqNo [0], primary term [1]. current document has seqNo [1] and primary term [1]"));
    assert_eq!(r.json["error"]["index"], "state");
    let r = call(
        &es,
        "PUT",
        "/state/_doc/other?if_seq_no=0&if_primary_term=1",
        Some(json!({})),
    );
    assert_eq!(
        r.error().1,
        "[other]: version conflict, required seqNo [0], primary term [1] but no document was found"
    );
    let r = call(
        &es,
        "PUT",
        "/state/_doc/cursor?if_seq_no=1",
        Some(json!({})),
    );
    assert_eq!(
        r.error().1,
        "Validation Failed: 1: ifSeqNo is set, but primary term is [0];"
    );
    let r = call(
        &es,
        "PUT",
        "/state/_create/cursor",
        Some(json!({"after": [9]})),
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        r.error().1,
        "[cursor]: version conflict, document already exists (current version [2])"
    );
    let r = call(
        &es,
        "PUT",
        "/state/_doc/cursor?op_type=create",
        Some(json!({})),
    );
    assert_eq!(r.status, 409);
    let r = call(&es, "GET", "/state/_doc/cursor", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json,
        json!({"_index": "state", "_id": "cursor", "_version": 2, "_seq_no": 1, "_primary_term": 1, "found": true, "_source": {"after": [2]}})
    );
    let r = call(&es, "GET", "/state/_doc/nope", None);
    assert_eq!(
        (r.status, r.json.clone()),
        (
            404,
            json!({"_index": "state", "_id": "nope", "found": false})
        )
    );
    let r = call(&es, "GET", "/nothing/_doc/x", None);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error(),
        ("index_not_found_exception", "no such index [nothing]")
    );
    assert_eq!(r.json["error"]["resource.id"], "nothing");
    let r = call(&es, "POST", "/state/_doc", Some(json!({"n": 1})));
    assert_eq!(r.status, 201);
    let auto = r.json["_id"].as_str().expect("an id").to_string();
    assert_eq!(auto.len(), 20);
    let r = call(
        &es,
        "POST",
        "/state/_update/cursor",
        Some(json!({"doc": {"extra": true}})),
    );
    assert_eq!(r.json["result"], "updated");
    let r = call(
        &es,
        "POST",
        "/state/_update/cursor",
        Some(json!({"doc": {"extra": true}})),
    );
    assert_eq!(r.json["result"], "noop");
    let r = call(
        &es,
        "POST",
        "/state/_update/missing",
        Some(json!({"doc": {"x": 1}})),
    );
    assert_eq!(
        (r.status, r.error()),
        (
            404,
            ("document_missing_exception", "[missing]: document missing")
        )
    );
    assert_eq!(
        es.docs("state"),
        vec![
            (auto.clone(), json!({"n": 1})),
            ("cursor".to_string(), json!({"after": [2], "extra": true}))
        ]
    );
    let r = call(&es, "DELETE", "/state/_doc/cursor", None);
    assert_eq!(
        (r.status, r.json["result"].as_str()),
        (200, Some("deleted"))
    );
    let r = call(&es, "DELETE", "/state/_doc/cursor", None);
    assert_eq!(
        (r.status, r.json["result"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(call(&es, "HEAD", "/state/_doc/cursor", None).status, 404);
    assert_eq!(es.docs("state").len(), 1);
    let r = call(&es, "PUT", "/Bad/_doc/1", Some(json!({})));
    assert_eq!(
        r.error(),
        (
            "invalid_index_name_exception",
            "Invalid index name [Bad], must be lowercase"
        )
    );
    assert_eq!(es.indices(), ["state"]);
}

#[test]
fn bulk_executes_every_action_and_reports_each_item() {
    let es = es8();
    let body = concat!(
        "{\"index\":{\"_index\":\"alerts\",\"_id\":\"1\"}}\n{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"rule\":\"a\"}\n",
        "{\"index\":{\"_index\":\"alerts\"}}\n{\"@timestamp\":\"2024-01-01T00:00:01Z\",\"rule\":\"b\"}\n",
        "{\"create\":{\"_index\":\"alerts\",\"_id\":\"1\"}}\n{\"rule\":\"dup\"}\n",
        "{\"update\":{\"_index\":\"alerts\",\"_id\":\"1\"}}\n{\"doc\":{\"acked\":true}}\n",
        "{\"update\":{\"_index\":\"alerts\",\"_id\":\"u\"}}\n{\"doc\":{\"rule\":\"u\"},\"doc_as_upsert\":true}\n",
        "{\"update\":{\"_index\":\"alerts\",\"_id\":\"gone\"}}\n{\"doc\":{\"rule\":\"x\"}}\n",
        "{\"index\":{\"_index\":\"alerts\",\"_id\":\"bad\"}}\n{\"@timestamp\":\"yesterday\"}\n",
        "{\"delete\":{\"_index\":\"alerts\",\"_id\":\"nope\"}}\n",
        "{\"create\":{\"_index\":\"alerts\",\"_id\":\"2\",\"if_seq_no\":5,\"if_primary_term\":1}}\n{\"rule\":\"c\"}\n",
    );
    let r = bulk(&es, "/_bulk?refresh=true", body);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["errors"], true);
    let items = r.json["items"].as_array().expect("items");
    let summary: Vec<(String, i64)> = items
        .iter()
        .map(|i| {
            let (op, v) = i.as_object().unwrap().iter().next().unwrap();
            (
                format!(
                    "{op}:{}",
                    v["result"]
                        .as_str()
                        .or(v["error"]["type"].as_str())
                        .unwrap_or("?")
                ),
                v["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("index:created", 201),
        ("index:created", 201),
        ("create:version_conflict_engine_exception", 409),
        ("update:updated", 200),
        ("update:created", 201),
        ("update:document_missing_exception", 404),
        ("index:mapper_parsing_exception", 400),
        ("delete:not_found", 404),
        ("create:version_conflict_engine_exception", 409),
    ];
    assert_eq!(summary, expected.map(|(a, b)| (a.to_string(), b)));
    assert_eq!(items[0]["index"]["forced_refresh"], true);
    assert_eq!(items[0]["index"]["_seq_no"], 0);
    assert_eq!(items[1]["index"]["_id"].as_str().map(str::len), Some(20));
    assert!(items[6]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .starts_with(
            "failed to parse field [@timestamp] of type [date] in document with id 'bad'"
        ));
    // refresh=true: searchable at once.
    let r = call(&es, "GET", "/alerts/_count", None);
    assert_eq!(r.json["count"], 3);
    let stored = es.docs("alerts");
    let one = stored.iter().find(|(id, _)| id == "1").expect("doc 1");
    assert_eq!(
        one.1,
        json!({"@timestamp": "2024-01-01T00:00:00Z", "rule": "a", "acked": true})
    );
    // The index in the path is the default; a bulk of only successes has errors: false.
    let r = bulk(
        &es,
        "/other/_bulk",
        "{\"index\":{\"_id\":\"x\"}}\n{\"a\":1}\n{\"delete\":{\"_id\":\"x\"}}\n",
    );
    assert_eq!(r.json["errors"], false);
    assert_eq!(r.json["items"][1]["delete"]["result"], "deleted");
    let r = bulk(&es, "/_bulk", "{\"index\":{\"_index\":\"a\"}}\n{\"a\":1}");
    assert_eq!(
        r.error(),
        (
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]"
        )
    );
    let r = bulk(&es, "/_bulk", "{\"insert\":{\"_index\":\"a\"}}\n{}\n");
    assert_eq!(r.error().1, "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [insert]");
    let r = bulk(&es, "/_bulk", "{\"index\":{}}\n{}\n");
    assert_eq!(
        r.error(),
        (
            "action_request_validation_exception",
            "Validation Failed: 1: index is missing;"
        )
    );
    let r = bulk(&es, "/_bulk", "");
    assert_eq!(r.error().1, "Validation Failed: 1: no requests added;");
}

#[test]
fn bulk_bodies_may_be_chunked_or_gzipped() {
    let es = es8();
    let ndjson = "{\"index\":{\"_index\":\"c\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"c\",\"_id\":\"2\"}}\n{\"a\":2}\n";
    // A reader of unknown length goes out with Transfer-Encoding: chunked.
    let reader = std::io::Cursor::new(ndjson.as_bytes().to_vec());
    let r = send(
        client()
            .post(format!("{}/_bulk", es.url()))
            .header("content-type", "application/x-ndjson")
            .body(reqwest::blocking::Body::new(reader)),
    );
    assert_eq!(
        (r.status, r.json["errors"].as_bool()),
        (200, Some(false)),
        "{}",
        r.text
    );
    let logged = es.requests();
    assert_eq!(logged[0].header("transfer-encoding"), Some("chunked"));
    assert_eq!(logged[0].body_text(), ndjson);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson.replace("\"c\"", "\"g\"").as_bytes())
        .unwrap();
    let r = send(
        client()
            .post(format!("{}/_bulk", es.url()))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .body(gz.finish().unwrap()),
    );
    assert_eq!(r.json["errors"], false, "{}", r.text);
    assert_eq!(es.docs("c").len() + es.docs("g").len(), 4);
}

#[test]
fn keep_alive_connections_serve_many_requests_and_expect_continue_is_answered() {
    let es = es8();
    let mut s = TcpStream::connect(es.url().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = "{\"a\":1}";
    let req = format!("PUT /k/_doc/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    s.write_all(b"GET /k/_doc/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 ").count(), 2, "{all}");
    assert!(all.starts_with("HTTP/1.1 201 Created\r\n"), "{all}");
    assert!(
        all.contains("HTTP/1.1 200 OK\r\n") && all.contains("\"_source\":{\"a\":1}"),
        "{all}"
    );
}

#[test]
fn refresh_makes_writes_searchable_and_count_counts_matches() {
    let es = EsServer::start(EsOptions {
        refresh_interval: None,
        ..EsOptions::default()
    });
    bulk(&es, "/_bulk", "{\"index\":{\"_index\":\"n\",\"_id\":\"1\"}}\n{\"v\":1}\n{\"index\":{\"_index\":\"n\",\"_id\":\"2\"}}\n{\"v\":2}\n");
    // Near real time: not searchable before a refresh, but readable by id.
    assert_eq!(call(&es, "GET", "/n/_count", None).json["count"], 0);
    assert_eq!(call(&es, "GET", "/n/_doc/2", None).json["found"], true);
    let r = call(&es, "POST", "/n/_refresh", None);
    assert_eq!(
        r.json["_shards"],
        json!({"total": 2, "successful": 1, "failed": 0})
    );
    let r = call(
        &es,
        "POST",
        "/n/_count",
        Some(json!({"query": {"range": {"v": {"gt": 1}}}})),
    );
    assert_eq!(
        r.json,
        json!({"count": 1, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})
    );
    let r = call(&es, "POST", "/n/_count", Some(json!({"size": 1})));
    assert_eq!(
        r.error(),
        ("parsing_exception", "request does not support [size]")
    );
    // refresh=wait_for also makes it visible, without forced_refresh.
    let r = call(
        &es,
        "PUT",
        "/n/_doc/3?refresh=wait_for",
        Some(json!({"v": 3})),
    );
    assert_eq!(r.json.get("forced_refresh"), None);
    assert_eq!(call(&es, "GET", "/_count", None).json["count"], 3);
    // With the default interval, a search refreshes an index whose last refresh is a second old.
    let es = es8();
    call(&es, "PUT", "/m/_doc/1", Some(json!({"v": 1})));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(call(&es, "GET", "/m/_count", None).json["count"], 1);
}

fn audit_events() -> Vec<Value> {
    vec![
        json!({"@timestamp": "2024-01-01T00:00:00.100Z", "kubernetes": {"audit": {"verb": "get", "user": {"username": "alice"}, "objectRef": {"resource": "pods"}}}, "message": "Get pod web-1"}),
        json!({"@timestamp": "2024-01-01T00:00:00.200Z", "kubernetes.audit.verb": "delete", "kubernetes.audit.user.username": "bob", "message": "Delete secret"}),
        json!({"@timestamp": "2024-01-01T00:00:00.300Z", "kubernetes": {"audit.verb": "create", "audit": {"user": {"username": "system:serviceaccount:kube-system:job"}}}, "code": 201}),
        json!({"@timestamp": "2024-01-01T00:00:00.400Z", "kubernetes": {"audit": {"verb": ["patch", "update"]}}, "code": 200, "tags": ["a", "b"]}),
    ]
}

#[test]
fn queries_resolve_fields_through_objects_and_dotted_keys() {
    let es = es8();
    es.index_docs_with_ids(
        "audit",
        &audit_events()
            .into_iter()
            .enumerate()
            .map(|(i, d)| (["e1", "e2", "e3", "e4"][i], d))
            .collect::<Vec<_>>(),
    );
    let q = |query: Value| {
        let r = call(
            &es,
            "POST",
            "/audit/_search",
            Some(json!({"query": query, "sort": [{"@timestamp": "asc"}]})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r)
    };
    assert_eq!(
        q(json!({"term": {"kubernetes.audit.verb.keyword": "delete"}})),
        ["e2"]
    );
    assert_eq!(
        q(json!({"term": {"kubernetes.audit.verb": "create"}})),
        ["e3"]
    );
    assert_eq!(
        q(json!({"terms": {"kubernetes.audit.verb.keyword": ["get", "update"]}})),
        ["e1", "e4"]
    );
    assert_eq!(
        q(
            json!({"term": {"kubernetes.audit.user.username.keyword": "system:serviceaccount:kube-system:job"}})
        ),
        ["e3"]
    );
    // A text field matches tokens: lowercased words, not the whole value.
    assert_eq!(q(json!({"term": {"message": "pod"}})), ["e1"]);
    assert!(q(json!({"term": {"message": "Get pod web-1"}})).is_empty());
    assert_eq!(
        q(json!({"match": {"message": {"query": "DELETE secret", "operator": "and"}}})),
        ["e2"]
    );
    assert_eq!(
        q(
            json!({"term": {"message.keyword": {"value": "get POD web-1", "case_insensitive": true}}})
        ),
        ["e1"]
    );
    assert_eq!(q(json!({"exists": {"field": "code"}})), ["e3", "e4"]);
    assert_eq!(
        q(json!({"exists": {"field": "kubernetes.audit.objectRef"}})),
        ["e1"]
    );
    assert_eq!(
        q(json!({"ids": {"values": ["e4", "e1", "zz"]}})),
        ["e1", "e4"]
    );
    assert_eq!(q(json!({"term": {"code": "201"}})), ["e3"]);
    assert_eq!(
        q(
            json!({"bool": {"filter": [{"exists": {"field": "kubernetes.audit.verb"}}], "must_not": {"term": {"kubernetes.audit.verb.keyword": "get"}}, "should": [{"term": {"code": 200}}, {"term": {"code": 201}}], "minimum_should_match": 1}})
        ),
        ["e3", "e4"]
    );
    assert_eq!(
        q(json!({"bool": {"should": [{"term": {"tags": "b"}}, {"ids": {"values": ["e2"]}}]}})),
        ["e2", "e4"]
    );
    assert!(q(json!({"match_none": {}})).is_empty());
    assert!(q(json!({"term": {"unmapped.field": "x"}})).is_empty());
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"query": {"term": {"code": "abc"}}})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error().0, "search_phase_execution_exception");
    assert_eq!(
        r.json["error"]["root_cause"][0]["type"],
        "query_shard_exception"
    );
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"query": {"wildcard": {"message": "x*"}}})),
    );
    assert_eq!(
        r.error(),
        (
            "parsing_exception",
            "the [wildcard] query is not supported by the k8scop test server"
        )
    );
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"query": {"term": {"a": 1}, "match_all": {}}})),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn search_shapes_hits_totals_and_source_like_elasticsearch() {
    let es = es8();
    es.index_docs_with_ids(
        "audit",
        &audit_events()
            .into_iter()
            .enumerate()
            .map(|(i, d)| (["e1", "e2", "e3", "e4"][i], d))
            .collect::<Vec<_>>(),
    );
    let r = call(&es, "GET", "/audit/_search?size=2", None);
    assert_eq!(
        r.json["hits"]["total"],
        json!({"value": 4, "relation": "eq"})
    );
    assert_eq!(r.json["hits"]["max_score"], 1.0);
    assert_eq!(r.json["hits"]["hits"][0]["_score"], 1.0);
    assert_eq!(r.json["hits"]["hits"][0].get("sort"), None);
    assert_eq!(
        r.json["_shards"],
        json!({"total": 1, "successful": 1, "skipped": 0, "failed": 0})
    );
    assert_eq!(r.json["timed_out"], false);
    assert_eq!(ids(&r), ["e1", "e2"]);
    let r = call(
        &es,
        "POST",
        "/audit/_search?from=2&size=1",
        Some(json!({"sort": ["@timestamp"]})),
    );
    assert_eq!(ids(&r), ["e3"]);
    assert_eq!(r.json["hits"]["hits"][0]["_score"], Value::Null);
    assert_eq!(
        r.json["hits"]["hits"][0]["sort"],
        json!([1_704_067_200_300i64])
    );
    assert_eq!(r.json["hits"]["max_score"], Value::Null);
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"size": 1, "track_total_hits": 2})),
    );
    assert_eq!(
        r.json["hits"]["total"],
        json!({"value": 2, "relation": "gte"})
    );
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"size": 1, "track_total_hits": false})),
    );
    assert_eq!(r.json["hits"].get("total"), None);
    let r = call(
        &es,
        "POST",
        "/audit/_search?rest_total_hits_as_int=true",
        Some(json!({"size": 0})),
    );
    assert_eq!(r.json["hits"]["total"], 4);
    let src = |s: Value| {
        let r = call(
            &es,
            "POST",
            "/audit/_search",
            Some(json!({"query": {"ids": {"values": ["e1"]}}, "_source": s})),
        );
        r.json["hits"]["hits"][0].get("_source").cloned()
    };
    assert_eq!(src(json!(false)), None);
    assert_eq!(
        src(json!(["kubernetes.audit.user"])),
        Some(json!({"kubernetes": {"audit": {"user": {"username": "alice"}}}}))
    );
    assert_eq!(
        src(json!({"includes": ["kubernetes.*"], "excludes": ["*.objectRef"]})),
        Some(json!({"kubernetes": {"audit": {"verb": "get", "user": {"username": "alice"}}}}))
    );
    let r = call(
        &es,
        "GET",
        "/audit/_search?_source_includes=message&seq_no_primary_term=true&version=true&size=1",
        None,
    );
    assert_eq!(
        r.json["hits"]["hits"][0]["_source"],
        json!({"message": "Get pod web-1"})
    );
    assert_eq!(
        (
            r.json["hits"]["hits"][0]["_seq_no"].as_i64(),
            r.json["hits"]["hits"][0]["_primary_term"].as_i64(),
            r.json["hits"]["hits"][0]["_version"].as_i64()
        ),
        (Some(0), Some(1), Some(1))
    );
    let r = call(
        &es,
        "GET",
        "/audit/_doc/e1?_source_excludes=kubernetes",
        None,
    );
    assert_eq!(
        r.json["_source"],
        json!({"@timestamp": "2024-01-01T00:00:00.100Z", "message": "Get pod web-1"})
    );
    let r = call(
        &es,
        "POST",
        "/audit/_search",
        Some(json!({"from": 9990, "size": 11})),
    );
    assert!(r.error().0 == "search_phase_execution_exception" && r.json["error"]["root_cause"][0]["reason"].as_str().unwrap().starts_with("Result window is too large, from + size must be less than or equal to: [10000] but was [10001]."));
    // Index expressions: patterns, lists, exclusions, missing indices.
    es.index_docs("audit-2", &[json!({"x": 1})]);
    assert_eq!(call(&es, "GET", "/audit*/_count", None).json["count"], 5);
    assert_eq!(
        call(&es, "GET", "/audit*,-audit-2/_count", None).json["count"],
        4
    );
    assert_eq!(
        call(&es, "GET", "/none-*/_search", None).json["hits"]["total"]["value"],
        0
    );
    let r = call(&es, "GET", "/none/_search", None);
    assert_eq!((r.status, r.error().0), (404, "index_not_found_exception"));
    assert_eq!(
        call(
            &es,
            "GET",
            "/none,audit-2/_search?ignore_unavailable=true",
            None
        )
        .json["hits"]["total"]["value"],
        1
    );
    let r = call(&es, "GET", "/none-*/_search?allow_no_indices=false", None);
    assert_eq!((r.status, r.error().1), (404, "no such index [none-*]"));
}

#[test]
fn sorting_follows_elasticsearch_for_types_missing_values_and_errors() {
    let es = es8();
    es.index_docs_with_ids(
        "s",
        &[
            (
                "a",
                json!({"t": "2024-01-01T00:00:02Z", "n": 5, "k": "b", "f": 1.5, "msg": "x"}),
            ),
            ("b", json!({"t": "2024-01-01T00:00:01Z", "n": 5, "k": "a"})),
            (
                "c",
                json!({"t": "2024-01-01T00:00:03Z", "k": ["z", "c"], "f": 0.5}),
            ),
        ],
    );
    let sort = |s: Value| {
        let r = call(&es, "POST", "/s/_search", Some(json!({"sort": s})));
        assert_eq!(r.status, 200, "{}", r.text);
        let sorts: Vec<Value> = r.json["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["sort"].clone())
            .collect();
        (ids(&r), sorts)
    };
    assert_eq!(sort(json!([{"t": "desc"}])).0, ["c", "a", "b"]);
    // Missing numbers sort last with Long.MAX_VALUE (Long.MIN_VALUE descending) as their value.
    let (order, values) = sort(json!([{"n": "asc"}, {"t": "asc"}]));
    assert_eq!(order, ["b", "a", "c"]);
    assert_eq!(values[2], json!([i64::MAX, 1_704_067_203_000i64]));
    let (order, values) = sort(json!([{"n": {"order": "desc"}}, "t"]));
    assert_eq!(order, ["b", "a", "c"]);
    assert_eq!(values[2][0], json!(i64::MIN));
    let (order, _) = sort(json!([{"n": {"order": "asc", "missing": "_first"}}]));
    assert_eq!(order[0], "c");
    // Keywords: arrays sort by their min (asc) or max (desc); missing values are null.
    assert_eq!(
        sort(json!([{"k.keyword": "asc"}])),
        (
            vec!["b".into(), "a".into(), "c".into()],
            vec![json!(["a"]), json!(["b"]), json!(["c"])]
        )
    );
    assert_eq!(sort(json!([{"k.keyword": "desc"}])).0, ["c", "a", "b"]);
    let (_, values) = sort(json!([{"f": "asc"}]));
    assert_eq!(values, [json!([0.5]), json!([1.5]), json!(["Infinity"])]);
    let (_, values) =
        sort(json!([{"t": {"order": "asc", "format": "strict_date_optional_time_nanos"}}]));
    assert_eq!(values[0], json!(["2024-01-01T00:00:01.000Z"]));
    let (order, values) = sort(json!([{"zz": {"order": "asc", "unmapped_type": "long"}}, "_doc"]));
    assert_eq!(
        (order, values[0].clone()),
        (
            vec!["a".into(), "b".into(), "c".into()],
            json!([i64::MAX, 0])
        )
    );
    let r = call(
        &es,
        "POST",
        "/s/_search",
        Some(json!({"sort": [{"zz": "asc"}]})),
    );
    assert_eq!(
        r.json["error"]["root_cause"][0]["reason"],
        "No mapping found for [zz] in order to sort on"
    );
    let r = call(
        &es,
        "POST",
        "/s/_search",
        Some(json!({"sort": [{"msg": "asc"}]})),
    );
    assert_eq!(r.status, 400);
    assert!(r.json["error"]["root_cause"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Text fields are not optimised"));
    let r = call(
        &es,
        "POST",
        "/s/_search",
        Some(json!({"sort": [{"t": {"order": "asc", "foo": 1}}]})),
    );
    assert_eq!(
        r.error(),
        (
            "x_content_parse_exception",
            "[field_sort] unknown field [foo]"
        )
    );
    let r = call(
        &es,
        "POST",
        "/s/_search",
        Some(json!({"sort": ["_shard_doc"]})),
    );
    assert_eq!(
        r.error().1,
        "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];"
    );
    let r = call(&es, "GET", "/s/_search?sort=n:desc,k.keyword", None);
    assert_eq!(ids(&r), ["b", "a", "c"]);
}

#[test]
fn range_boundaries_are_exact_for_dates_and_numbers() {
    let es = es8();
    es.index_docs_with_ids(
        "r",
        &[
            ("d0", json!({"t": "2024-01-01T00:00:00Z", "n": 0})),
            ("d1", json!({"t": "2024-01-01T00:00:00.001Z", "n": 1})),
            ("d2", json!({"t": "2024-01-01T00:00:00.999999Z", "n": 2})),
            ("d3", json!({"t": "2024-01-01T01:00:01+01:00", "n": 3})),
            ("d4", json!({"t": 1_704_067_202_000i64, "n": 4.0})),
        ],
    );
    let q = |range: Value| {
        let r = call(
            &es,
            "POST",
            "/r/_search",
            Some(json!({"query": {"range": range}, "sort": ["n"]})),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids(&r)
    };
    assert_eq!(
        q(json!({"t": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-01-01T00:00:00.001Z"}})),
        ["d0"]
    );
    assert_eq!(
        q(json!({"t": {"gt": "2024-01-01T00:00:00Z", "lte": "2024-01-01T00:00:00.999Z"}})),
        ["d1", "d2"]
    );
    // A date field keeps milliseconds: .999999 is .999.
    assert_eq!(
        q(json!({"t": {"gt": "2024-01-01T00:00:00.999Z"}})),
        ["d3", "d4"]
    );
    // +01:00 is an hour ahead: 01:00:01+01:00 is 00:00:01Z.
    assert_eq!(
        q(json!({"t": {"gte": "2024-01-01T00:00:01Z", "lte": "2024-01-01T00:00:01Z"}})),
        ["d3"]
    );
    assert_eq!(q(json!({"t": {"gte": 1_704_067_202_000i64}})), ["d4"]);
    assert_eq!(
        q(json!({"t": {"gte": "1704067202000", "format": "epoch_millis"}})),
        ["d4"]
    );
    assert_eq!(
        q(json!({"t": {"lt": "2024-01-01T00:00:00.001Z", "format": "strict_date_optional_time"}})),
        ["d0"]
    );
    assert_eq!(q(json!({"t": {"lt": "now-1d"}})).len(), 5);
    assert!(q(json!({"t": {"gte": "now-1d"}})).is_empty());
    assert_eq!(q(json!({"n": {"gt": 0, "lt": 3}})), ["d1", "d2"]);
    assert_eq!(
        q(json!({"n": {"gte": 1.5, "lte": "4"}})),
        ["d2", "d3", "d4"]
    );
    assert_eq!(
        q(json!({"n": {"from": 1, "to": 2, "include_upper": false}})),
        ["d1"]
    );
    let r = call(
        &es,
        "POST",
        "/r/_search",
        Some(json!({"query": {"range": {"t": {"gte": "2024-01-01", "format": "yyyy-MM-dd"}}}})),
    );
    assert_eq!(r.error().1, "the date format [yyyy-MM-dd] in a [range] query is not supported by the k8scop test server");
    let r = call(
        &es,
        "POST",
        "/r/_search",
        Some(json!({"query": {"range": {"t": {"gte": "not a date"}}}})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["caused_by"]["caused_by"]["reason"], "failed to parse date field [not a date] with format [strict_date_optional_time||epoch_millis]");
}

fn open_pit(es: &EsServer, index: &str) -> String {
    let r = call(es, "POST", &format!("/{index}/_pit?keep_alive=1m"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["id"].as_str().expect("a PIT id").to_string()
}

#[test]
fn a_point_in_time_is_a_snapshot_that_expires_and_closes() {
    let es = es8();
    es.index_docs_with_ids(
        "logs-a",
        &[
            ("1", json!({"t": "2024-01-01T00:00:00Z"})),
            ("2", json!({"t": "2024-01-01T00:00:01Z"})),
        ],
    );
    let r = call(&es, "POST", "/logs-*/_pit?keep_alive=1m", None);
    assert_eq!(
        r.json["_shards"],
        json!({"total": 1, "successful": 1, "skipped": 0, "failed": 0})
    );
    let pit = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(es.open_pits(), 1);
    // Writes after the PIT opened: a new doc, a change, a delete, a new index.
    es.index_docs_with_ids(
        "logs-a",
        &[
            ("3", json!({"t": "2024-01-01T00:00:02Z"})),
            ("1", json!({"t": "2024-01-01T00:00:09Z"})),
        ],
    );
    call(&es, "DELETE", "/logs-a/_doc/2?refresh=true", None);
    es.index_docs("logs-b", &[json!({"t": "2024-01-01T00:00:05Z"})]);
    let search = |pit: &str| {
        call(
            &es,
            "POST",
            "/_search",
            Some(
                json!({"pit": {"id": pit, "keep_alive": "1m"}, "sort": [{"t": "asc"}], "track_total_hits": true}),
            ),
        )
    };
    let r = search(&pit);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r), ["1", "2"]);
    assert_eq!(r.json["pit_id"], pit.as_str());
    assert_eq!(
        r.json["hits"]["hits"][0]["_source"],
        json!({"t": "2024-01-01T00:00:00Z"})
    );
    // The implicit tiebreaker: `_shard_doc` is appended to the sort values.
    assert_eq!(
        r.json["hits"]["hits"][1]["sort"],
        json!([1_704_067_201_000i64, 1])
    );
    let now = call(
        &es,
        "POST",
        "/logs-*/_search",
        Some(json!({"sort": [{"t": "asc"}]})),
    );
    let current = ids(&now);
    assert_eq!(
        (current.len(), current[0].as_str(), current[2].as_str()),
        (3, "3", "1")
    );
    assert_eq!(now.json["hits"]["total"]["value"], 3);
    let r = call(
        &es,
        "POST",
        "/logs-a/_search",
        Some(json!({"pit": {"id": pit}})),
    );
    assert_eq!(r.error().1, "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;");
    let r = call(&es, "DELETE", "/_pit", Some(json!({"id": pit})));
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"succeeded": true, "num_freed": 1}))
    );
    let r = call(&es, "DELETE", "/_pit", Some(json!({"id": pit})));
    assert_eq!(
        (r.status, r.json.clone()),
        (404, json!({"succeeded": true, "num_freed": 0}))
    );
    let r = search(&pit);
    assert_eq!(r.status, 404);
    assert_eq!(r.error().0, "search_phase_execution_exception");
    assert_eq!(
        r.json["error"]["root_cause"][0]["type"],
        "search_context_missing_exception"
    );
    assert!(r.json["error"]["caused_by"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("No search context found for id ["));
    // expire_pits(): what an expired keep-alive does, at once.
    let pit = open_pit(&es, "logs-a");
    assert_eq!(search(&pit).status, 200);
    assert_eq!(es.expire_pits(), 1);
    assert_eq!(search(&pit).status, 404);
    // A real keep-alive runs out too.
    let r = call(&es, "POST", "/logs-a/_pit?keep_alive=300ms", None);
    let short = r.json["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(es.open_pits(), 0);
    let r = call(&es, "POST", "/_search", Some(json!({"pit": {"id": short}})));
    assert_eq!(r.status, 404);
    // Opening: a missing concrete index is an error unless ignore_unavailable.
    let r = call(&es, "POST", "/missing/_pit?keep_alive=1m", None);
    assert_eq!((r.status, r.error().0), (404, "index_not_found_exception"));
    assert_eq!(
        call(
            &es,
            "POST",
            "/missing,logs-a/_pit?keep_alive=1m&ignore_unavailable=true",
            None
        )
        .status,
        200
    );
    let r = call(&es, "POST", "/logs-a/_pit", None);
    assert_eq!(
        r.error(),
        (
            "action_request_validation_exception",
            "Validation Failed: 1: [keep_alive] is not specified;"
        )
    );
    let r = call(&es, "POST", "/logs-a/_pit?keep_alive=5", None);
    assert_eq!(r.error().1, "failed to parse setting [keep_alive] with value [5] as a time value: unit is missing or unrecognized");
}

/// Pages through `query` with a PIT and `search_after`, returning every hit's id and sort values.
fn page_all(es: &EsServer, index: &str, sort: Value, page: usize) -> Vec<(String, Value)> {
    let mut pit = open_pit(es, index);
    let mut after: Option<Value> = None;
    let mut out = Vec::new();
    loop {
        let mut body = json!({"size": page, "pit": {"id": pit, "keep_alive": "1m"}, "sort": sort, "track_total_hits": false});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let r = call(es, "POST", "/_search", Some(body));
        assert_eq!(r.status, 200, "{}", r.text);
        pit = r.json["pit_id"].as_str().expect("pit_id").to_string();
        let hits = r.json["hits"]["hits"].as_array().unwrap().clone();
        if hits.is_empty() {
            break;
        }
        for h in &hits {
            out.push((h["_id"].as_str().unwrap().to_string(), h["sort"].clone()));
        }
        after = Some(hits.last().unwrap()["sort"].clone());
    }
    call(es, "DELETE", "/_pit", Some(json!({"id": pit})));
    out
}

#[test]
fn search_after_pages_over_ten_thousand_docs_with_ties_without_loss_or_repeat() {
    let es = es8();
    // 10,000 events over 1,250 distinct milliseconds (eight per millisecond), written out of
    // order, in two indices.
    let base = 1_704_067_200_000i64;
    let docs: Vec<(String, Value)> = (0..10_000i64)
        .map(|i| {
            let ms = (i * 7919) % 1250;
            (
                format!("e{i:05}"),
                json!({"@timestamp": base + ms, "seq": i}),
            )
        })
        .collect();
    let (a, b): (Vec<_>, Vec<_>) = docs
        .iter()
        .partition(|(id, _)| id.ends_with(['0', '2', '4', '6', '8']));
    es.index_docs_with_ids(
        "audit-a",
        &a.iter()
            .map(|(i, d)| (i.as_str(), d.clone()))
            .collect::<Vec<_>>(),
    );
    es.index_docs_with_ids(
        "audit-b",
        &b.iter()
            .map(|(i, d)| (i.as_str(), d.clone()))
            .collect::<Vec<_>>(),
    );
    let started = Instant::now();
    let hits = page_all(&es, "audit-*", json!([{"@timestamp": "asc"}]), 997);
    assert_eq!(hits.len(), 10_000);
    let mut seen: Vec<&str> = hits.iter().map(|(id, _)| id.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 10_000, "a document came twice");
    // Sorted by time, then by (shard, doc): never backwards.
    let keys: Vec<(i64, i64)> = hits
        .iter()
        .map(|(_, s)| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    // The second index's documents have shard index 1 in `_shard_doc`.
    assert!(keys.iter().any(|k| k.1 >> 32 == 1) && keys.iter().any(|k| k.1 >> 32 == 0));
    // Explicit `_shard_doc` descending pages the same set backwards.
    let back = page_all(&es, "audit-*", json!([{"_shard_doc": "desc"}]), 1000);
    assert_eq!(back.len(), 10_000);
    assert!(back
        .windows(2)
        .all(|w| w[0].1[0].as_i64() > w[1].1[0].as_i64()));
    // Without the tiebreaker (no PIT), search_after on the time alone skips the rest of each
    // millisecond cut by a page boundary: that is why PIT paging needs it.
    let mut after: Option<Value> = None;
    let mut plain = 0;
    loop {
        let mut body = json!({"size": 997, "sort": [{"@timestamp": "asc"}]});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let r = call(&es, "POST", "/audit-*/_search", Some(body));
        let hits = r.json["hits"]["hits"].as_array().unwrap().clone();
        if hits.is_empty() {
            break;
        }
        plain += hits.len();
        after = Some(hits.last().unwrap()["sort"].clone());
    }
    assert!(
        plain < 10_000,
        "no page boundary fell inside a millisecond?"
    );
    eprintln!("paged 10,000 docs three ways in {:?}", started.elapsed());
}

#[test]
fn search_after_must_match_the_sort() {
    let es = es8();
    es.index_docs("x", &[json!({"t": "2024-01-01T00:00:00Z"})]);
    let pit = open_pit(&es, "x");
    // With a PIT, search_after may name the tiebreaker's value or leave it out (then no
    // tiebreaker is added).
    let r = call(
        &es,
        "POST",
        "/_search",
        Some(json!({"pit": {"id": pit}, "sort": ["t"], "search_after": [0]})),
    );
    assert_eq!(
        r.json["hits"]["hits"][0]["sort"],
        json!([1_704_067_200_000i64])
    );
    let r = call(
        &es,
        "POST",
        "/_search",
        Some(json!({"pit": {"id": pit}, "sort": ["t"], "search_after": [0, 0, 0]})),
    );
    assert_eq!(
        r.json["error"]["root_cause"][0]["reason"],
        "search_after has 3 value(s) but sort has 1."
    );
    // A date's search_after value may be a date string.
    let r = call(
        &es,
        "POST",
        "/x/_search",
        Some(json!({"sort": ["t"], "search_after": ["2023-12-31T23:59:59.999Z"]})),
    );
    assert_eq!(r.json["hits"]["hits"].as_array().map(Vec::len), Some(1));
    let r = call(
        &es,
        "POST",
        "/x/_search",
        Some(json!({"sort": ["t"], "search_after": [{"a": 1}]})),
    );
    assert_eq!(
        r.json["error"]["root_cause"][0]["reason"],
        "Failed to parse search_after value for field [t]."
    );
    let r = call(
        &es,
        "POST",
        "/x/_search",
        Some(json!({"sort": ["t"], "search_after": [1], "from": 1})),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn es7_flavors_answer_in_the_7x_format() {
    let es = EsServer::start(EsOptions {
        flavor: Flavor::Es7_10,
        ..EsOptions::default()
    });
    let r = call(
        &es,
        "PUT",
        "/a/_doc/1?refresh=true",
        Some(json!({"t": "2024-01-01T00:00:00Z"})),
    );
    assert_eq!(r.json["_type"], "_doc");
    let r = call(&es, "POST", "/a/_pit?keep_alive=1m", None);
    assert_eq!(
        r.json
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["id".to_string()])
    );
    let pit = r.json["id"].as_str().unwrap().to_string();
    // 7.10 has no `_shard_doc` (7.12) and adds no tiebreaker.
    let r = call(
        &es,
        "POST",
        "/_search",
        Some(json!({"pit": {"id": pit}, "sort": ["t"]})),
    );
    assert_eq!(
        r.json["hits"]["hits"][0]["sort"],
        json!([1_704_067_200_000i64])
    );
    assert_eq!(r.json["hits"]["hits"][0]["_type"], "_doc");
    let r = call(
        &es,
        "POST",
        "/_search",
        Some(json!({"pit": {"id": pit}, "sort": ["_shard_doc"]})),
    );
    assert_eq!(
        r.json["error"]["root_cause"][0]["reason"],
        "No mapping found for [_shard_doc] in order to sort on"
    );
    let es = EsServer::start(EsOptions {
        flavor: Flavor::Es7_17,
        ..EsOptions::default()
    });
    es.index_docs("a", &[json!({"t": 1})]);
    let pit = open_pit(&es, "a");
    let r = call(
        &es,
        "POST",
        "/_search",
        Some(json!({"pit": {"id": pit}, "sort": ["t"]})),
    );
    assert_eq!(r.json["hits"]["hits"][0]["sort"], json!([1, 0]));
}

#[test]
fn status_faults_fail_whole_requests_with_the_documented_bodies() {
    let es = es8();
    es.faults().push(Fault::Status {
        path: "/_bulk".into(),
        status: 429,
        times: 2,
    });
    let body = "{\"index\":{\"_index\":\"alerts\",\"_id\":\"1\"}}\n{\"a\":1}\n";
    for _ in 0..2 {
        let r = bulk(&es, "/alerts/_bulk", body);
        assert_eq!(r.status, 429);
        assert_eq!(r.error().0, "es_rejected_execution_exception");
        assert!(r
            .error()
            .1
            .starts_with("rejected execution of coordinating operation"));
        assert_eq!(r.json["status"], 429);
    }
    assert!(
        es.docs("alerts").is_empty(),
        "a rejected bulk must not be executed"
    );
    assert!(es.faults().pending().is_empty());
    assert_eq!(bulk(&es, "/_bulk", body).status, 200);
    assert_eq!(es.docs("alerts").len(), 1);
    es.faults().push(Fault::Status {
        path: "".into(),
        status: 503,
        times: 1,
    });
    es.faults().push(Fault::Status {
        path: "/_search".into(),
        status: 502,
        times: 1,
    });
    es.faults().push(Fault::Status {
        path: "/_search".into(),
        status: 504,
        times: 1,
    });
    let r = call(&es, "GET", "/", None);
    assert_eq!(
        (r.status, r.error()),
        (
            503,
            (
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/2/no master];"
            )
        )
    );
    let r = call(&es, "GET", "/_search", None);
    assert_eq!(
        (r.status, r.header("content-type")),
        (502, Some("text/html"))
    );
    assert!(r.text.contains("502 Bad Gateway"));
    let r = call(&es, "GET", "/_search", None);
    assert!(r.status == 504 && r.text.contains("504 Gateway Time-out"));
    es.faults().push(Fault::Status {
        path: "/_bulk".into(),
        status: 403,
        times: 1,
    });
    let r = bulk(&es, "/_bulk", body);
    assert_eq!((r.status, r.error().0), (403, "security_exception"));
    assert_eq!(call(&es, "GET", "/_search", None).status, 200);
    es.faults().push(Fault::Status {
        path: "/_search".into(),
        status: 500,
        times: 5,
    });
    assert_eq!(es.faults().pending().len(), 1);
    es.faults().clear();
    assert_eq!(call(&es, "GET", "/_search", None).status, 200);
}

#[test]
fn bulk_item_faults_fail_every_nth_item_only() {
    let es = es8();
    let body: String = (1..=6)
        .map(|i| {
            format!("{{\"create\":{{\"_index\":\"alerts\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n")
        })
        .collect();
    es.faults().push(Fault::BulkItems {
        status: 429,
        every_nth: 2,
        times: 1,
    });
    // The fault waits for a bulk request.
    assert_eq!(call(&es, "GET", "/", None).status, 200);
    let r = bulk(&es, "/_bulk", &body);
    assert_eq!(r.json["errors"], true);
    let statuses: Vec<i64> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["create"]["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 429, 201, 429, 201, 429]);
    assert_eq!(
        r.json["items"][1]["create"]["error"]["type"],
        "es_rejected_execution_exception"
    );
    let stored: Vec<String> = es.docs("alerts").into_iter().map(|(id, _)| id).collect();
    assert_eq!(stored, ["1", "3", "5"]);
    // Retrying the whole bulk: the created ones conflict now, the rejected ones go in.
    let r = bulk(&es, "/_bulk", &body);
    let statuses: Vec<i64> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["create"]["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [409, 201, 409, 201, 409, 201]);
    es.faults().push(Fault::BulkItems {
        status: 400,
        every_nth: 3,
        times: 1,
    });
    let r = bulk(&es, "/_bulk", "{\"index\":{\"_index\":\"b\"}}\n{}\n{\"index\":{\"_index\":\"b\"}}\n{}\n{\"index\":{\"_index\":\"b\"}}\n{}\n");
    assert_eq!(r.json["items"][2]["index"]["status"], 400);
    assert_eq!(
        r.json["items"][2]["index"]["error"]["type"],
        "mapper_parsing_exception"
    );
    assert_eq!(es.docs("b").len(), 2);
}

#[test]
fn delays_time_out_clients_and_disconnects_drop_the_connection() {
    let es = es8();
    es.faults().push(Fault::Delay {
        path: "/_search".into(),
        millis: 4000,
        times: 1,
    });
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = quick
        .get(format!("{}/_search", es.url()))
        .send()
        .expect_err("the delayed search times out");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_millis(3000));
    let started = Instant::now();
    assert_eq!(call(&es, "GET", "/_search", None).status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "the delay applies once"
    );
    es.faults().push(Fault::Delay {
        path: "".into(),
        millis: 200,
        times: 1,
    });
    let started = Instant::now();
    assert_eq!(call(&es, "GET", "/", None).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    es.faults().push(Fault::Disconnect {
        path: "/_bulk".into(),
        times: 1,
    });
    let err = client()
        .post(format!("{}/_bulk", es.url()))
        .header("content-type", "application/x-ndjson")
        .body("{\"index\":{\"_index\":\"a\"}}\n{}\n")
        .send()
        .expect_err("the connection is dropped");
    assert!(!err.is_timeout(), "{err}");
    assert!(es.docs("a").is_empty());
    let logged = es.requests();
    assert_eq!(
        (
            logged.last().unwrap().path.as_str(),
            logged.last().unwrap().status
        ),
        ("/_bulk", 0)
    );
}

#[test]
fn oversized_bodies_get_413_with_an_empty_body() {
    let es = es8();
    es.faults().push(Fault::PayloadTooLarge {
        path: String::new(),
        over_bytes: 1000,
    });
    let small = "{\"index\":{\"_index\":\"a\"}}\n{}\n";
    assert_eq!(bulk(&es, "/_bulk", small).status, 200);
    let big: String = small.repeat(50);
    let r = bulk(&es, "/_bulk", &big);
    assert_eq!((r.status, r.text.as_str()), (413, ""));
    assert_eq!(es.docs("a").len(), 1);
    // It stays until cleared.
    assert_eq!(bulk(&es, "/_bulk", &big).status, 413);
    es.faults().clear();
    assert_eq!(bulk(&es, "/_bulk", &big).json["errors"], false);
}

#[test]
fn stop_simulates_an_outage_and_restart_listens_on_the_same_port() {
    let es = es8();
    es.index_docs("keep", &[json!({"a": 1})]);
    let url = es.url();
    // A request in flight when the server stops gets no answer.
    es.faults().push(Fault::Delay {
        path: "/_count".into(),
        millis: 5000,
        times: 1,
    });
    let in_flight = std::thread::spawn({
        let url = url.clone();
        move || {
            client()
                .get(format!("{url}/keep/_count"))
                .send()
                .map(|r| r.status().as_u16())
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    es.stop();
    assert!(in_flight.join().unwrap().is_err());
    let err = client()
        .get(format!("{url}/"))
        .send()
        .expect_err("nothing listens");
    assert!(err.is_connect(), "{err}");
    es.restart();
    assert_eq!(es.url(), url);
    assert_eq!(call(&es, "GET", "/keep/_count", None).json["count"], 1);
    es.stop();
    es.stop();
    es.restart();
    assert_eq!(call(&es, "GET", "/", None).status, 200);
}

#[test]
fn the_request_log_records_what_clients_sent() {
    let es = EsServer::start(EsOptions {
        auth: Some(Auth::Bearer("t".into())),
        ..EsOptions::default()
    });
    send(
        client()
            .post(format!(
                "{}/a/_search?size=1&track_total_hits=true",
                es.url()
            ))
            .header("authorization", "Bearer t")
            .json(&json!({"query": {"match_all": {}}})),
    );
    send(client().get(format!("{}/", es.url())));
    let log = es.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (
            log[0].method.as_str(),
            log[0].path.as_str(),
            log[0].query.as_str(),
            log[0].status
        ),
        ("POST", "/a/_search", "size=1&track_total_hits=true", 404)
    );
    assert_eq!(log[0].header("Authorization"), Some("Bearer t"));
    assert_eq!(log[0].body_text(), "{\"query\":{\"match_all\":{}}}");
    assert_eq!(log[1].status, 401);
    es.clear_requests();
    assert!(es.requests().is_empty());
}

#[test]
fn index_admin_endpoints_create_describe_and_delete() {
    let es = es8();
    let r = call(
        &es,
        "PUT",
        "/made",
        Some(
            json!({"mappings": {"properties": {"ts": {"type": "date_nanos"}, "obj": {"properties": {"k": {"type": "keyword", "ignore_above": 3}}}}}}),
        ),
    );
    assert_eq!(
        r.json,
        json!({"acknowledged": true, "shards_acknowledged": true, "index": "made"})
    );
    assert_eq!(
        call(&es, "PUT", "/made", None).error().0,
        "resource_already_exists_exception"
    );
    assert_eq!(call(&es, "HEAD", "/made", None).status, 200);
    assert_eq!(call(&es, "HEAD", "/nope", None).status, 404);
    let r = call(&es, "GET", "/made/_mapping", None);
    assert_eq!(
        r.json["made"]["mappings"]["properties"]["obj"]["properties"]["k"],
        json!({"type": "keyword", "ignore_above": 3})
    );
    assert_eq!(
        call(&es, "GET", "/made", None).json["made"]["mappings"]["properties"]["ts"]["type"],
        "date_nanos"
    );
    // date_nanos keeps nanoseconds and sorts by them; ignore_above leaves long keywords out.
    es.index_docs_with_ids(
        "made",
        &[
            (
                "1",
                json!({"ts": "2024-01-01T00:00:00.000000002Z", "obj": {"k": "long"}}),
            ),
            (
                "2",
                json!({"ts": "2024-01-01T00:00:00.000000001Z", "obj": {"k": "ok"}}),
            ),
        ],
    );
    let r = call(&es, "POST", "/made/_search", Some(json!({"sort": ["ts"]})));
    assert_eq!(ids(&r), ["2", "1"]);
    assert_eq!(
        r.json["hits"]["hits"][0]["sort"],
        json!([1_704_067_200_000_000_001i64])
    );
    let r = call(
        &es,
        "POST",
        "/made/_search",
        Some(json!({"query": {"exists": {"field": "obj.k"}}})),
    );
    assert_eq!(ids(&r), ["2"]);
    assert_eq!(
        call(&es, "DELETE", "/made*", None).error().1,
        "Wildcard expressions or all indices are not allowed"
    );
    assert_eq!(
        call(&es, "DELETE", "/made", None).json["acknowledged"],
        true
    );
    assert_eq!(call(&es, "DELETE", "/made", None).status, 404);
    assert!(es.mapping("made").is_none());
}

#[test]
fn versioned_media_types_must_name_a_compatible_major() {
    let es = es8();
    let vnd = |v: u32| format!("application/vnd.elasticsearch+json; compatible-with={v}");
    let r = send(
        client()
            .get(format!("{}/", es.url()))
            .header("accept", vnd(8)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.elasticsearch+json;compatible-with=8")
    );
    assert_eq!(
        send(
            client()
                .get(format!("{}/", es.url()))
                .header("accept", vnd(7))
        )
        .status,
        200
    );
    // A 9.x client against an 8.x cluster.
    let r = send(
        client()
            .get(format!("{}/", es.url()))
            .header("accept", vnd(9)),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "media_type_header_exception",
            "Invalid media-type value on headers [Accept, Content-Type]"
        )
    );
    assert_eq!(
        r.json["error"]["caused_by"]["reason"],
        "Accept version must be either version 8 or 7, but found 9. Accept=application/vnd.elasticsearch+json; compatible-with=9"
    );
    let r = send(
        client()
            .post(format!("{}/a/_doc", es.url()))
            .header("accept", vnd(8))
            .header("content-type", vnd(7))
            .body("{}"),
    );
    assert!(r.json["error"]["caused_by"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("A compatible version is required on both Content-Type and Accept headers"));
    let r = send(
        client()
            .post(format!("{}/_bulk", es.url()))
            .header("accept", vnd(8))
            .header(
                "content-type",
                "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
            )
            .body("{\"index\":{\"_index\":\"a\"}}\n{}\n"),
    );
    assert_eq!(r.json["errors"], false);
    let es9 = EsServer::start(EsOptions {
        flavor: Flavor::Es9,
        ..EsOptions::default()
    });
    assert_eq!(
        send(
            client()
                .get(format!("{}/", es9.url()))
                .header("accept", vnd(9))
        )
        .status,
        200
    );
    assert_eq!(
        send(
            client()
                .get(format!("{}/", es9.url()))
                .header("accept", vnd(7))
        )
        .status,
        400
    );
}
