//! The bare fetch of the Elasticsearch benchmark (`scripts/bench-es`, docs/PERFORMANCE.md):
//! pages through `[START, END)` of an index exactly as `k8scop run -E ... -A static` does (the
//! same point in time, the same query, sort, page size and `search_after`) and throws the hits
//! away. Its time is what the server needs to serve the range: the floor of k8scop's time.
//!
//! ```sh
//! cargo run --release -p k8scop-runtime --example es_fetch -- URL INDEX START_MS END_MS [PAGE_SIZE]
//! ```
//!
//! It parses nothing it does not need: the next page's `search_after` is the last `"sort":[...]`
//! of the answer (each hit's `sort` comes after its `_source`) and the hits of a page are counted
//! by their `"_index":` keys, so the events must not have keys named `_index` or `sort` (the
//! generated ones do not). Prints the documents, pages and bytes read and the time on stderr.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::{json, Value};

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("es_fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, index, start, end, rest @ ..] = args.as_slice() else {
        return Err("usage: es_fetch URL INDEX START_MS END_MS [PAGE_SIZE]".into());
    };
    let number = |s: &str, what: &str| -> Result<i64, Error> {
        s.parse()
            .map_err(|_| format!("{what} `{s}` is not a number").into())
    };
    let start = number(start, "START_MS")?;
    let end = number(end, "END_MS")?;
    let page_size = match rest.first() {
        Some(p) => number(p, "PAGE_SIZE")? as usize,
        None => 1000,
    };
    let url = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let started = Instant::now();

    // Which server: OpenSearch and Elasticsearch differ in the point-in-time API and tiebreaker,
    // as in engine/runtime/src/sources/elasticsearch.rs.
    let root: Value = client.get(format!("{url}/")).send().await?.json().await?;
    let opensearch = root
        .pointer("/version/distribution")
        .and_then(Value::as_str)
        == Some("opensearch");
    let version = root
        .pointer("/version/number")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let shard_doc = !opensearch && (major > 7 || (major == 7 && minor >= 12));
    let pit_path = if opensearch {
        format!("{url}/{index}/_search/point_in_time?keep_alive=300s")
    } else {
        format!("{url}/{index}/_pit?keep_alive=300s")
    };
    let answer = client.post(pit_path).send().await?;
    if !answer.status().is_success() {
        return Err(format!("opening a point in time: {}", answer.status()).into());
    }
    let pit: Value = answer.json().await?;
    let mut pit_id = pit
        .get("pit_id")
        .or_else(|| pit.get("id"))
        .and_then(Value::as_str)
        .ok_or("the point-in-time answer has no id")?
        .to_owned();
    let tiebreaker = if shard_doc { "_shard_doc" } else { "_id" };

    let (mut documents, mut pages, mut bytes) = (0u64, 0u64, 0u64);
    let mut search_after: Option<Value> = None;
    loop {
        let mut body = json!({
            "size": page_size,
            "query": {"bool": {"filter": [{"range": {"@timestamp": {
                "gte": start, "lt": end, "format": "epoch_millis"}}}]}},
            "sort": [{"@timestamp": {"order": "asc"}}, {tiebreaker: {"order": "asc"}}],
            "track_total_hits": pages == 0,
            "pit": {"id": pit_id, "keep_alive": "300s"},
        });
        if let Some(after) = &search_after {
            body["search_after"] = after.clone();
        }
        let answer = client
            .post(format!("{url}/_search"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body)?)
            .send()
            .await?;
        let status = answer.status();
        let page = answer.bytes().await?;
        if !status.is_success() {
            return Err(format!(
                "POST /_search: {status}: {}",
                String::from_utf8_lossy(&page[..page.len().min(300)])
            )
            .into());
        }
        pages += 1;
        bytes += page.len() as u64;
        let hits = memchr::memmem::find_iter(&page, b"\"_index\":").count();
        documents += hits as u64;
        if let Some(id) = string_after(&page, b"\"pit_id\":\"") {
            pit_id = id;
        }
        if hits < page_size {
            break;
        }
        search_after = Some(last_sort(&page)?);
    }
    let close = if opensearch {
        client
            .delete(format!("{url}/_search/point_in_time"))
            .json(&json!({"pit_id": [pit_id]}))
    } else {
        client
            .delete(format!("{url}/_pit"))
            .json(&json!({"id": pit_id}))
    };
    // A point in time that is not closed expires after its keep-alive.
    let _ = close.send().await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{documents} documents in {pages} pages ({:.0} MiB) in {secs:.2} s: {:.0} documents/s",
        bytes as f64 / 1048576.0,
        documents as f64 / secs
    );
    Ok(())
}

/// The last hit's `sort` array: the last `"sort":[...]` of the answer.
fn last_sort(page: &[u8]) -> Result<Value, Error> {
    let at = memchr::memmem::rfind(page, b"\"sort\":[").ok_or("a full page without `sort`")?;
    let from = at + b"\"sort\":".len();
    let len = memchr::memchr(b']', &page[from..]).ok_or("an unterminated `sort`")?;
    Ok(serde_json::from_slice(&page[from..=from + len])?)
}

/// The JSON string value after `key` (a key with its opening quote), when there is one.
fn string_after(page: &[u8], key: &[u8]) -> Option<String> {
    let from = memchr::memmem::find(page, key)? + key.len();
    let len = memchr::memchr(b'"', &page[from..])?;
    Some(String::from_utf8_lossy(&page[from..from + len]).into_owned())
}
