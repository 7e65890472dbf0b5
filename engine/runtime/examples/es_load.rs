//! Loads JSON-lines audit events into an Elasticsearch/OpenSearch index with `_bulk`, for the
//! Elasticsearch benchmark (`scripts/bench-es`, docs/PERFORMANCE.md):
//!
//! ```sh
//! cargo run --release -p k8scop-runtime --example es_load -- URL INDEX FILE [BATCH]
//! ```
//!
//! Each event gets `@timestamp` = its `requestReceivedTimestamp`, as a shipper sets it, inserted
//! as the document's first key (the rest of the line is sent as it is). The index is created
//! first with `@timestamp` mapped as a date and dynamic mapping off (`dynamic: false`: the
//! benchmark only filters and sorts on `@timestamp`, and indexing every field of a million
//! events would only make loading slower and the server bigger). Batches of BATCH events
//! (default 5,000), one request at a time; any rejected document stops the load with the
//! server's answer. Ends with a refresh and prints the count the server reports.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("es_load: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, index, file, rest @ ..] = args.as_slice() else {
        return Err("usage: es_load URL INDEX FILE [BATCH]".into());
    };
    let batch: usize = match rest.first() {
        Some(b) => b
            .parse()
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("`{b}` is not a positive batch size"))?,
        None => 5000,
    };
    let url = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let started = Instant::now();

    let mapping = serde_json::json!({
        "mappings": {"dynamic": false, "properties": {"@timestamp": {"type": "date"}}}
    });
    let answer = client
        .put(format!("{url}/{index}"))
        .json(&mapping)
        .send()
        .await?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        return Err(format!("PUT /{index}: {status}: {text}").into());
    }

    let reader = std::io::BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(file).map_err(|e| format!("cannot open `{file}`: {e}"))?,
    );
    let action = format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n");
    let mut body = String::new();
    let mut in_body = 0usize;
    let mut loaded = 0u64;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{file}:{}: {e}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let time = received_timestamp(&line)
            .ok_or_else(|| format!("{file}:{}: no \"requestReceivedTimestamp\"", n + 1))?;
        let rest = line
            .strip_prefix('{')
            .ok_or_else(|| format!("{file}:{}: not a JSON object", n + 1))?;
        body.push_str(&action);
        body.push_str("{\"@timestamp\":\"");
        body.push_str(time);
        body.push_str("\",");
        body.push_str(rest);
        body.push('\n');
        in_body += 1;
        if in_body == batch {
            send(&client, url, std::mem::take(&mut body)).await?;
            loaded += in_body as u64;
            in_body = 0;
        }
    }
    if in_body > 0 {
        send(&client, url, body).await?;
        loaded += in_body as u64;
    }
    let answer = client
        .post(format!("{url}/{index}/_refresh"))
        .send()
        .await?;
    if !answer.status().is_success() {
        return Err(format!("POST /{index}/_refresh: {}", answer.status()).into());
    }
    let count: serde_json::Value = client
        .get(format!("{url}/{index}/_count"))
        .send()
        .await?
        .json()
        .await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "loaded {loaded} events into {index} in {secs:.1} s ({:.0} events/s); the server counts {}",
        loaded as f64 / secs,
        count["count"]
    );
    if count["count"].as_u64() != Some(loaded) {
        return Err(format!(
            "the server counts {} documents, not {loaded}",
            count["count"]
        )
        .into());
    }
    Ok(())
}

/// The value of `"requestReceivedTimestamp":"..."` in a generated event's line.
fn received_timestamp(line: &str) -> Option<&str> {
    const KEY: &str = "\"requestReceivedTimestamp\":\"";
    let start = line.find(KEY)? + KEY.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// One `_bulk` request; an error if the server or any item refused.
async fn send(client: &reqwest::Client, url: &str, body: String) -> Result<(), Error> {
    let answer = client
        .post(format!("{url}/_bulk"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    let text = answer.text().await?;
    if !status.is_success() {
        return Err(format!("POST /_bulk: {status}: {}", head(&text)).into());
    }
    // `"errors":false` comes first in the answer (after `took`); look only at its start.
    if !head(&text).contains("\"errors\":false") {
        let item_error = text
            .find("\"error\":{")
            .map(|i| head(&text[i..]).to_owned())
            .unwrap_or_else(|| head(&text).to_owned());
        return Err(format!("POST /_bulk: documents were rejected: {item_error}").into());
    }
    Ok(())
}

/// The first 300 bytes of an answer (on a character boundary), for messages.
fn head(text: &str) -> &str {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
