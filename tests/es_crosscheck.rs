//! The same data and the same paging queries (point in time, `search_after`, ties on the sort
//! field) against the test server and osmem-server, an OpenSearch-compatible server from PyPI,
//! and, when `K8SCOP_ES_URL` names one, a real Elasticsearch: the hits must be the same. This
//! keeps tests/es_server honest.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::es_server::{EsOptions, EsServer};
use crate::osmem::Osmem;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `POST /{index}/_pit`, `DELETE /_pit`.
    Elasticsearch,
    /// `POST /{index}/_search/point_in_time`, `DELETE /_search/point_in_time`.
    OpenSearch,
}

struct Target {
    name: String,
    url: String,
    authorization: Option<String>,
    kind: Kind,
    prefix: String,
    client: reqwest::blocking::Client,
}

impl Target {
    fn new(name: &str, url: &str, kind: Kind, prefix: &str) -> Target {
        let insecure = std::env::var_os("K8SCOP_ES_INSECURE").is_some();
        Target {
            name: name.into(),
            url: url.trim_end_matches('/').into(),
            authorization: None,
            kind,
            prefix: prefix.into(),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .danger_accept_invalid_certs(insecure)
                .build()
                .expect("a reqwest client"),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<String>, ndjson: bool) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut rb = self.client.request(method, format!("{}{path}", self.url));
        if let Some(auth) = &self.authorization {
            rb = rb.header("authorization", auth);
        }
        if let Some(b) = body {
            let ct = if ndjson {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            rb = rb.header("content-type", ct).body(b);
        }
        let r = rb
            .send()
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", self.name));
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        assert!(
            status < 300,
            "{}: {path} answered {status}: {text}",
            self.name
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn index(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn open_pit(&self, pattern: &str) -> String {
        match self.kind {
            Kind::Elasticsearch => {
                let r = self.call(
                    "POST",
                    &format!("/{pattern}/_pit?keep_alive=1m"),
                    None,
                    false,
                );
                r["id"].as_str().expect("a PIT id").to_string()
            }
            Kind::OpenSearch => {
                let r = self.call(
                    "POST",
                    &format!("/{pattern}/_search/point_in_time?keep_alive=1m"),
                    None,
                    false,
                );
                r["pit_id"].as_str().expect("a PIT id").to_string()
            }
        }
    }

    fn close_pit(&self, id: &str) {
        match self.kind {
            Kind::Elasticsearch => self.call(
                "DELETE",
                "/_pit",
                Some(json!({"id": id}).to_string()),
                false,
            ),
            Kind::OpenSearch => self.call(
                "DELETE",
                "/_search/point_in_time",
                Some(json!({"pit_id": [id]}).to_string()),
                false,
            ),
        };
    }

    /// Pages through `query` sorted by `sort` plus an explicit `_shard_doc`; returns the hits as
    /// groups of equal sort values (the tiebreaker left out), ids sorted within a group, since
    /// the servers number documents differently.
    fn page(
        &self,
        pattern: &str,
        query: &Value,
        sort: &Value,
        size: usize,
    ) -> Vec<(Value, Vec<String>)> {
        let mut sort = sort.as_array().expect("a sort array").clone();
        sort.push(json!({"_shard_doc": "asc"}));
        let mut pit = self.open_pit(pattern);
        let mut after: Option<Value> = None;
        let mut hits: Vec<(Value, String)> = Vec::new();
        for page in 0.. {
            assert!(page < 10_000, "{}: paging does not end", self.name);
            let mut body = json!({"size": size, "query": query, "sort": sort, "pit": {"id": pit, "keep_alive": "1m"}, "track_total_hits": false});
            if let Some(a) = &after {
                body["search_after"] = a.clone();
            }
            let r = self.call("POST", "/_search", Some(body.to_string()), false);
            if let Some(id) = r["pit_id"].as_str() {
                pit = id.to_string();
            }
            let page_hits = r["hits"]["hits"].as_array().cloned().unwrap_or_default();
            if page_hits.is_empty() {
                break;
            }
            for h in &page_hits {
                let mut values = h["sort"].as_array().expect("sort values").clone();
                values.pop();
                hits.push((
                    Value::Array(values),
                    h["_id"].as_str().expect("an _id").to_string(),
                ));
            }
            after = Some(page_hits.last().expect("a hit")["sort"].clone());
        }
        self.close_pit(&pit);
        let mut ids: Vec<&String> = hits.iter().map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            hits.len(),
            "{}: a hit came twice while paging",
            self.name
        );
        let mut groups: Vec<(Value, Vec<String>)> = Vec::new();
        for (values, id) in hits {
            match groups.last_mut() {
                Some((v, ids)) if *v == values => ids.push(id),
                _ => groups.push((values, vec![id])),
            }
        }
        for (_, ids) in &mut groups {
            ids.sort();
        }
        groups
    }
}

/// Audit-event-like documents: ties on the millisecond, sub-millisecond fractions, fields as
/// objects and as dotted keys, missing values.
fn dataset() -> Vec<(String, Value)> {
    let verbs = ["get", "list", "watch", "create", "delete", "patch"];
    let users = [
        "alice",
        "bob",
        "system:serviceaccount:kube-system:job",
        "system:node:n1",
        "carol",
        "admin",
        "dave",
    ];
    let resources = ["pods", "secrets", "configmaps", "deployments", "nodes"];
    (0..3000usize)
        .map(|i| {
            let ms = (i * 37) % 500;
            let micros = if i % 3 == 0 { format!("{:03}", (i * 7) % 1000) } else { String::new() };
            let ts = format!("2024-03-01T12:00:{:02}.{:03}{micros}Z", ms / 100, (ms % 100) * 10 + i % 10);
            let mut doc = if i % 4 == 0 {
                json!({"@timestamp": ts, "kubernetes.audit.verb": verbs[i % 6], "kubernetes.audit.objectRef": {"resource": resources[i % 5]}})
            } else {
                json!({"@timestamp": ts, "kubernetes": {"audit": {"verb": verbs[i % 6], "objectRef.resource": resources[i % 5]}}})
            };
            if i % 13 != 0 {
                doc["kubernetes.audit.user.username"] = json!(users[i % 7]);
            }
            if i % 11 != 0 {
                doc["code"] = json!(200 + (i % 5) as i64 * 100);
            }
            (format!("ev-{i:04}"), doc)
        })
        .collect()
}

fn load(target: &Target, docs: &[(String, Value)]) {
    let mut body = String::new();
    for (n, (id, doc)) in docs.iter().enumerate() {
        let index = target.index(if n % 3 == 0 { "b" } else { "a" });
        body.push_str(&json!({"index": {"_index": index, "_id": id}}).to_string());
        body.push('\n');
        body.push_str(&doc.to_string());
        body.push('\n');
    }
    let r = target.call("POST", "/_bulk?refresh=true", Some(body), true);
    assert_eq!(r["errors"], false, "{}: bulk failed: {r}", target.name);
}

fn queries() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "everything by time",
            json!({"match_all": {}}),
            json!([{"@timestamp": "asc"}]),
        ),
        (
            "everything by time, newest first",
            json!({"match_all": {}}),
            json!([{"@timestamp": {"order": "desc"}}]),
        ),
        (
            "a time window with fractional bounds and a verb",
            json!({"bool": {"filter": [
                {"range": {"@timestamp": {"gte": "2024-03-01T12:00:01.105Z", "lt": "2024-03-01T12:00:03.5Z"}}},
                {"term": {"kubernetes.audit.verb.keyword": "get"}}
            ]}}),
            json!([{"@timestamp": "asc"}]),
        ),
        (
            "codes with missing values, descending",
            json!({"bool": {"must_not": [{"terms": {"kubernetes.audit.verb.keyword": ["list", "watch"]}}]}}),
            json!([{"code": "desc"}, {"@timestamp": "asc"}]),
        ),
        (
            "users with missing values",
            json!({"exists": {"field": "code"}}),
            json!([{"kubernetes.audit.user.username.keyword": "asc"}, {"code": "asc"}]),
        ),
        (
            "a dotted-key field and a text token",
            json!({"bool": {"must": [{"term": {"kubernetes.audit.objectRef.resource.keyword": "secrets"}}, {"term": {"kubernetes.audit.user.username": "system:serviceaccount:kube"}}]}}),
            json!([{"@timestamp": "asc"}]),
        ),
        (
            "ids and ranges on numbers",
            json!({"bool": {"should": [{"ids": {"values": ["ev-0001", "ev-0002", "ev-2999", "nope"]}}, {"range": {"code": {"gt": 300, "lte": 500}}}]}}),
            json!([{"@timestamp": "desc"}]),
        ),
    ]
}

fn run_all(targets: &[Target]) {
    let docs = dataset();
    for t in targets {
        load(t, &docs);
    }
    for (name, query, sort) in queries() {
        let mut results = Vec::new();
        for t in targets {
            let pattern = t.index("*");
            let groups = t.page(&pattern, &query, &sort, 97);
            let count = t.call(
                "POST",
                &format!("/{pattern}/_count"),
                Some(json!({"query": query}).to_string()),
                false,
            );
            let n: usize = groups.iter().map(|(_, ids)| ids.len()).sum();
            assert_eq!(
                count["count"].as_u64(),
                Some(n as u64),
                "{}: {name}: paging and _count disagree",
                t.name
            );
            let total = t.call(
                "POST",
                &format!("/{pattern}/_search"),
                Some(json!({"query": query, "size": 0, "track_total_hits": true}).to_string()),
                false,
            );
            assert_eq!(
                total["hits"]["total"],
                json!({"value": n, "relation": "eq"}),
                "{}: {name}",
                t.name
            );
            results.push((t.name.clone(), groups));
        }
        let (first_name, first) = &results[0];
        assert!(
            !first.is_empty(),
            "{name}: no hits at all, the query tests nothing"
        );
        for (other_name, other) in &results[1..] {
            if first != other {
                let at = first
                    .iter()
                    .zip(other)
                    .position(|(a, b)| a != b)
                    .unwrap_or(first.len().min(other.len()));
                panic!(
                    "{name}: {first_name} and {other_name} differ at group {at}: {:?} vs {:?} ({} and {} groups)",
                    first.get(at),
                    other.get(at),
                    first.len(),
                    other.len()
                );
            }
        }
    }
    // The stored sources are the same too.
    let sources = |t: &Target| -> BTreeMap<String, Value> {
        let r = t.call(
            "POST",
            &format!("/{}/_search", t.index("*")),
            Some(json!({"size": 10_000, "query": {"match_all": {}}}).to_string()),
            false,
        );
        r["hits"]["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| {
                (
                    h["_id"].as_str().expect("an id").to_string(),
                    h["_source"].clone(),
                )
            })
            .collect()
    };
    let reference = sources(&targets[0]);
    assert_eq!(reference.len(), docs.len());
    for t in &targets[1..] {
        assert!(
            sources(t) == reference,
            "{}: stored sources differ from {}",
            t.name,
            targets[0].name
        );
    }
}

#[test]
fn paging_queries_give_the_same_hits_on_the_test_server_and_osmem_server() {
    let es = EsServer::start(EsOptions::default());
    let osmem = Osmem::start();
    let mut targets = vec![
        Target::new("the test server", &es.url(), Kind::Elasticsearch, "xcheck-"),
        Target::new("osmem-server", osmem.url(), Kind::OpenSearch, "xcheck-"),
    ];
    // A real cluster too, when one is named (see docs/testing.md).
    let mut cleanup = None;
    if let Ok(url) = std::env::var("K8SCOP_ES_URL") {
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        let mut real = Target::new(
            "K8SCOP_ES_URL",
            &url,
            Kind::Elasticsearch,
            &format!("k8scop-xcheck-{suffix}-"),
        );
        real.authorization = std::env::var("K8SCOP_ES_AUTHORIZATION").ok();
        cleanup = Some((
            real.url.clone(),
            real.authorization.clone(),
            real.prefix.clone(),
        ));
        targets.push(real);
    }
    run_all(&targets);
    if let Some((url, auth, prefix)) = cleanup {
        let t = Target {
            authorization: auth,
            ..Target::new("cleanup", &url, Kind::Elasticsearch, &prefix)
        };
        for name in ["a", "b"] {
            t.call("DELETE", &format!("/{}", t.index(name)), None, false);
        }
    }
}
