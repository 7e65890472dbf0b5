//! Load test of the audit webhook on loopback (`scripts/bench-webhook`, docs/PERFORMANCE.md):
//! starts `k8scop run --listen`, POSTs `EventList` batches of realistic events as the
//! kube-apiserver's batching backend does, and measures the sustained events/s and the
//! receive-to-alert latency.
//!
//! ```sh
//! cargo run --release -p k8scop-runtime --example webhook_load -- \
//!     target/release/k8scop EVENTS.jsonl [--rate EVENTS_PER_S] [--batch 400] [--connections 2]
//! ```
//!
//! Every batch carries one marker event that a rule of its own (`load_marker`, beside the
//! shipped rules) turns into a new alert titled after it. Latency is the time from the start of
//! the POST that delivered a batch (the request k8scop answered 200) to the moment its marker's
//! alert is read from k8scop's stdout: HTTP, the queue, decoding, the engine and the stdout sink.
//! Throughput is every event sent over the time from the first POST to the last marker's alert.
//! `--rate 0` (the default) sends as fast as k8scop takes batches (a 429 is retried after 50 ms),
//! which measures the most it sustains; a latency figure is meaningful at a rate below that.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    k8scop: PathBuf,
    events: PathBuf,
    rate: f64,
    batch: usize,
    connections: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: webhook_load K8SCOP EVENTS.jsonl [--rate EVENTS_PER_S] [--batch N] [--connections N]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut raw = std::env::args().skip(1);
    let (Some(k8scop), Some(events)) = (raw.next(), raw.next()) else {
        usage()
    };
    let mut args = Args {
        k8scop: k8scop.into(),
        events: events.into(),
        rate: 0.0,
        batch: 400,
        connections: 2,
    };
    while let Some(flag) = raw.next() {
        let value = raw.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--rate" => args.rate = value.parse().unwrap_or_else(|_| usage()),
            "--batch" => args.batch = value.parse().unwrap_or_else(|_| usage()),
            "--connections" => args.connections = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    args
}

const MARKER_RULES: &str = r#"rule load_marker {
    title    "{objectRef.name}"
    severity info
    when     objectRef.namespace == "k8scop-load-marker"
}
"#;

/// The batch's marker event, at the time of the batch's first event.
fn marker(i: usize, first: &str) -> String {
    let time = serde_json::from_str::<serde_json::Value>(first)
        .ok()
        .and_then(|e| e["requestReceivedTimestamp"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "2024-05-01T12:00:00.000000Z".into());
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("k8scop-load-marker-{i}"), "stage": "ResponseComplete",
        "requestURI": format!("/api/v1/namespaces/k8scop-load-marker/configmaps/lm-{i}"),
        "verb": "get", "user": {"username": "k8scop-load", "groups": ["system:authenticated"]},
        "sourceIPs": ["127.0.0.1"],
        "objectRef": {"resource": "configmaps", "namespace": "k8scop-load-marker", "name": format!("lm-{i}"), "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
    })
    .to_string()
}

/// The marker number in an alert line, if it is a marker's alert.
fn marker_of(line: &str) -> Option<usize> {
    let start = line.find("\"title\":\"lm-")? + "\"title\":\"lm-".len();
    let digits = line[start..].split('"').next()?;
    digits.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let text = std::fs::read_to_string(&args.events).expect("the events file is readable");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bodies: Vec<String> = lines
        .chunks(args.batch)
        .enumerate()
        .map(|(i, chunk)| {
            let mut items = chunk.join(",");
            items.push(',');
            items.push_str(&marker(i, chunk[0]));
            format!(
                r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{items}]}}"#
            )
        })
        .collect();
    let total_events = lines.len() + bodies.len();
    let bytes: usize = bodies.iter().map(String::len).sum();
    eprintln!(
        "{} events ({} markers) in {} batches, {:.1} MiB",
        total_events,
        bodies.len(),
        bodies.len(),
        bytes as f64 / 1048576.0
    );

    let rules = std::env::temp_dir().join(format!("k8scop-load-{}", std::process::id()));
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("marker.rules"), MARKER_RULES).unwrap();
    let mut child = Command::new(&args.k8scop)
        .args(["run", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args(["--rules", "rules", "--rules"])
        .arg(&rules)
        .args(["--output", "json", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("k8scop starts");

    // stderr: the URLs, then whatever k8scop reports.
    let (url_tx, url_rx) = std::sync::mpsc::channel::<(String, String)>();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let stderr_thread = std::thread::spawn(move || {
        let mut rest = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(i) = line.find(": listening on ") {
                let _ = url_tx.send((line[..i].to_owned(), line[i + 15..].trim().to_owned()));
            } else {
                rest.push_str(&line);
            }
            line.clear();
        }
        rest
    });
    let mut webhook = String::new();
    let mut metrics = String::new();
    while webhook.is_empty() || metrics.is_empty() {
        let (what, url) = url_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("k8scop listens");
        match what.as_str() {
            "audit webhook" => webhook = url,
            _ => metrics = url,
        }
    }

    // stdout: when each marker's alert arrives.
    let seen: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; bodies.len()]));
    let seen_count = Arc::new(AtomicUsize::new(0));
    let stdout_thread = {
        let seen = Arc::clone(&seen);
        let seen_count = Arc::clone(&seen_count);
        let mut stdout = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut alerts = 0u64;
            while stdout.read_line(&mut line).unwrap_or(0) > 0 {
                alerts += 1;
                if let Some(i) = marker_of(&line) {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    if let Some(slot) = seen.get_mut(i) {
                        if slot.is_none() {
                            *slot = Some(now);
                            seen_count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                line.clear();
            }
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
            alerts
        })
    };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()
        .unwrap();
    let bodies = Arc::new(bodies);
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; bodies.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (client, bodies, sent_at, next, throttled, webhook) = (
            client.clone(),
            Arc::clone(&bodies),
            Arc::clone(&sent_at),
            Arc::clone(&next),
            Arc::clone(&throttled),
            webhook.clone(),
        );
        let per_batch = args.batch as f64;
        let rate = args.rate;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    return;
                }
                if rate > 0.0 {
                    let due = start + Duration::from_secs_f64(i as f64 * per_batch / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                loop {
                    let attempt = Instant::now();
                    let response = client
                        .post(&webhook)
                        .header("Content-Type", "application/json")
                        .body(bodies[i].clone())
                        .send()
                        .await
                        .expect("the webhook answers");
                    match response.status().as_u16() {
                        200 => {
                            sent_at.lock().unwrap()[i] = Some(attempt);
                            break;
                        }
                        429 | 503 => {
                            throttled.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        status => panic!("batch {i}: {status} {:?}", response.text().await),
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let sent = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen_count.load(Ordering::Relaxed) < bodies.len() {
        assert!(Instant::now() < deadline, "markers missing after 300 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let last = seen.iter().flatten().max().copied().unwrap();
    let elapsed = last - start;
    let scrape = client
        .get(&metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let evaluated = scrape
        .lines()
        .find(|l| l.starts_with("k8scop_events_evaluated_total"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("?")
        .to_owned();

    let sent_at = sent_at.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = sent_at
        .iter()
        .zip(&seen)
        .map(|(s, r)| r.unwrap() - s.unwrap())
        .collect();
    latencies.sort();

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let alerts = stdout_thread.join().unwrap();
    let stderr = stderr_thread.join().unwrap();

    println!(
        "rate {}: {} events in {} batches of {} over {} connections",
        if args.rate > 0.0 {
            format!("{:.0} events/s", args.rate)
        } else {
            "as fast as accepted".into()
        },
        total_events,
        bodies.len(),
        args.batch,
        args.connections
    );
    println!(
        "sustained: {:.0} events/s ({:.2} s from the first POST to the last marker's alert; \
         POSTs done after {:.2} s; {} answered 429/503 and retried)",
        total_events as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        sent.as_secs_f64(),
        throttled.load(Ordering::Relaxed)
    );
    println!(
        "receive-to-alert latency over {} markers: p50 {}, p90 {}, p99 {}, max {}",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    println!("k8scop: {evaluated} events evaluated, {alerts} alert lines");
    let summary = stderr
        .lines()
        .filter(|l| l.starts_with("summary"))
        .collect::<Vec<_>>();
    println!("{}", summary.join("\n"));
}
