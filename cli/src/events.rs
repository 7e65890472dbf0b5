//! Reading events for `test-rule` (and, later, `run`): files or standard input, in order.

use std::io::Read;
use std::path::Path;

use k8scop_engine::event::Event;
use k8scop_engine::input::{read_documents, Record};

/// What reading the inputs gave: events in order, and what had to be skipped, with where.
#[derive(Debug, Default)]
pub struct Inputs {
    pub events: Vec<Event>,
    /// `file:line: message` for malformed JSON.
    pub malformed: Vec<String>,
    /// `file:line: reason` for documents that are not events the ruleset evaluates.
    pub skipped: Vec<String>,
}

/// Reads every input. A file that cannot be read is an error; what is inside a file never is.
pub fn read_inputs(
    paths: &[std::path::PathBuf],
    accepts: impl Fn(&Event) -> bool,
) -> Result<Inputs, String> {
    let mut inputs = Inputs::default();
    for path in paths {
        let (name, text) = read_text(path)?;
        for record in read_documents(&text) {
            match record {
                Record::Document { line, value } => {
                    let position = format!("{name}:{line}");
                    match Event::classify(value, &position) {
                        Ok(event) if accepts(&event) => inputs.events.push(event),
                        Ok(event) => inputs.skipped.push(format!(
                            "{position}: a {} event, and no rule evaluates that source",
                            event.kind.as_str()
                        )),
                        Err(e) => inputs.skipped.push(format!("{position}: {}", e.reason)),
                    }
                }
                Record::Malformed { line, message } => {
                    inputs.malformed.push(format!("{name}:{line}: {message}"))
                }
            }
        }
    }
    Ok(inputs)
}

fn read_text(path: &Path) -> Result<(String, String), String> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok((
            "<stdin>".into(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    // Invalid UTF-8 is replaced rather than fatal: the broken line is then reported as malformed.
    Ok((
        path.display().to_string(),
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
}
