//! The baseline of the `run` benchmark: parse every line of a JSON-lines file into a
//! `serde_json::Value` and do nothing else (one thread).
//! `cargo run --release -p k8scop-engine --example bare_parse -- FILE`

use std::io::BufRead;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| std::io::Error::other("usage: bare_parse FILE"))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let (mut events, mut objects) = (0u64, 0u64);
    for line in reader.lines() {
        let line = line?;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
            events += 1;
            objects += u64::from(value.is_object());
        }
    }
    eprintln!("parsed {events} lines ({objects} objects)");
    Ok(())
}
