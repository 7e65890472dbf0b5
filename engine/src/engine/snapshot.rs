//! Checkpoints of an [`Engine`]'s open state: [`Engine::snapshot`] takes an [`EngineState`],
//! [`Engine::restore`] builds an engine from one, and [`RestoreReport`] says what was kept.
//!
//! A snapshot holds everything that decides the engine's later output, so that an engine restored
//! from it and given the events that followed gives exactly the alert updates (same ids, counts,
//! times, samples and documents) the engine it was taken of gave:
//!
//! - per rule and sequence, under its name and fingerprint: the open alerts with what they show of
//!   their first event (title, group, fields, context), alerts closed but not yet evicted, the
//!   threshold windows, the sequence's partial matches, each state's newest time, recency order
//!   and overflow counters, and the rule's [`DetectionStats`];
//! - the watermark and the eviction schedule (when expired state is next evicted decides whether a
//!   late match still joins an alert).
//!
//! A rule or sequence whose definition changed between the snapshot and the restore (another
//! fingerprint: its text, or a list, macro or step rule it uses, changed) starts fresh, as on a
//! hot reload ([`Engine::replace_ruleset`]): its saved state is dropped and reported, its counters
//! go on. The counters of rules removed by a reload before the snapshot are not saved.
//!
//! The format is JSON through serde, with a `version`: [`EngineState::from_json`] and
//! [`EngineState::from_value`] read the version before anything else, so a state written by
//! another version of k8scop is a [`StateError::UnsupportedVersion`], not a confusing parse
//! error. 64-bit hashes (fingerprints) are hex strings, so JSON tools that read numbers as
//! doubles cannot corrupt them.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{fresh_states, DetectionState, DetectionStats, Engine, Payload};
use crate::alert::Context;
use crate::ruleset::{DetectionKind, Order, Ruleset};
use crate::state::aggregate::AggregationState;
use crate::state::any_order::AnyOrderState;
use crate::state::sequence::SequenceState;
use crate::state::threshold::ThresholdState;
use crate::state::{
    loaded_time, saved_time, Aggregation, AnyOrder, Invalid, Limits, Progress, Sequence, Threshold,
};
use crate::template::Title;

/// The version of the [`EngineState`] format this build writes and reads.
pub const ENGINE_STATE_VERSION: u32 = 1;

/// The open state of an [`Engine`], as [`Engine::snapshot`] takes it; serde (JSON) serializable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Always first, so that it is read before anything else of the document.
    version: u32,
    watermark: Option<i64>,
    /// The watermark at the last eviction.
    last_evict: Option<i64>,
    /// Events since the last eviction.
    since_evict: u32,
    /// One per rule, then one per sequence, in the ruleset's order.
    detections: Vec<SavedDetection>,
}

/// The state of one rule or sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedDetection {
    name: String,
    kind: SavedKind,
    /// [`crate::ruleset::Detection::fingerprint`], 16 hex digits.
    fingerprint: String,
    stats: DetectionStats,
    aggregation: AggregationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<ThresholdState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence: Option<SequenceState>,
    /// The steps of a sequence whose steps happen in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any_order: Option<AnyOrderState>,
    /// What each alert remembers of its first event, by alert id (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    payloads: Vec<SavedPayload>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SavedKind {
    Rule,
    Sequence,
}

impl From<DetectionKind> for SavedKind {
    fn from(kind: DetectionKind) -> Self {
        match kind {
            DetectionKind::Rule => SavedKind::Rule,
            DetectionKind::Sequence => SavedKind::Sequence,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedPayload {
    id: String,
    title: Title,
    group: Vec<GroupValue>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    fields: Map<String, Value>,
    context: Context,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GroupValue {
    path: String,
    value: Option<String>,
}

/// What [`Engine::restore`] did with each rule and sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Restored as they were saved, in the ruleset's order.
    pub kept: Vec<Arc<str>>,
    /// Saved with another definition: their state was dropped and they start fresh (their
    /// counters go on), in the ruleset's order.
    pub changed: Vec<DroppedState>,
    /// Saved, and not in the ruleset any more: their state was dropped, in the snapshot's order.
    pub removed: Vec<DroppedState>,
    /// In the ruleset and not in the snapshot: they start fresh, in the ruleset's order.
    pub added: Vec<Arc<str>>,
}

/// A rule or sequence whose saved state was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedState {
    /// The rule's or sequence's name.
    pub name: String,
    /// Its alerts that were open: they stay as last written, and later matches open new alerts
    /// (with new ids).
    pub open_alerts: usize,
}

/// Why a saved state cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state was written in a format version this k8scop does not read.
    #[error("the saved {what} has version {found}, and this k8scop reads version {supported}")]
    UnsupportedVersion {
        /// `engine state` or `deduplication state`.
        what: &'static str,
        /// The version it was written in.
        found: u64,
        /// The version this k8scop reads.
        supported: u32,
    },
    /// The state is not what k8scop writes (cut short, edited, corrupted).
    #[error("the saved {what} is corrupt: {message}")]
    Corrupt {
        /// `engine state` or `deduplication state`.
        what: &'static str,
        /// What does not parse, as the JSON reader says it.
        message: String,
    },
    /// The saved deduplication window was keyed with another secret than the one this process
    /// already uses, so its keys cannot be compared.
    #[error(
        "the saved deduplication key cannot be used: this process already deduplicates events \
         with another one"
    )]
    DedupKeyInUse,
}

impl miette::Diagnostic for StateError {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            StateError::UnsupportedVersion { .. } => {
                "another version of k8scop wrote it: run that version, or delete the saved state \
                 to start afresh (open alerts, threshold windows and partial sequences are lost)"
            }
            StateError::Corrupt { .. } => {
                "delete the saved state to start afresh (open alerts, threshold windows and \
                 partial sequences are lost)"
            }
            StateError::DedupKeyInUse => {
                "restore the deduplication state before any event is decoded"
            }
        };
        Some(Box::new(help))
    }
}

const WHAT: &str = "engine state";

impl EngineState {
    /// Reads a state from JSON text: the version first, then the rest.
    pub fn from_json(text: &str) -> Result<EngineState, StateError> {
        check_version(WHAT, ENGINE_STATE_VERSION, version_of(WHAT, text)?)?;
        serde_json::from_str(text).map_err(|e| corrupt(WHAT, e))
    }

    /// Reads a state from a JSON value: the version first, then the rest.
    pub fn from_value(value: Value) -> Result<EngineState, StateError> {
        check_version(WHAT, ENGINE_STATE_VERSION, version_in(WHAT, &value)?)?;
        serde_json::from_value(value).map_err(|e| corrupt(WHAT, e))
    }

    /// The format version it was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The newest event time the engine had seen.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }
}

/// The `version` of a JSON document, read without building the rest.
pub(crate) fn version_of(what: &'static str, text: &str) -> Result<Option<u64>, StateError> {
    #[derive(Deserialize)]
    struct Probe {
        version: Option<Value>,
    }
    let probe: Probe = serde_json::from_str(text).map_err(|e| corrupt(what, e))?;
    number(what, probe.version.as_ref())
}

/// The `version` of a JSON value.
pub(crate) fn version_in(what: &'static str, value: &Value) -> Result<Option<u64>, StateError> {
    if !value.is_object() {
        return Err(StateError::Corrupt {
            what,
            message: "it is not a JSON object".into(),
        });
    }
    number(what, value.get("version"))
}

fn number(what: &'static str, version: Option<&Value>) -> Result<Option<u64>, StateError> {
    match version {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| StateError::Corrupt {
            what,
            message: format!("its `version` is `{v}`, not a number"),
        }),
    }
}

/// Checks a state's version against the one this build reads.
pub(crate) fn check_version(
    what: &'static str,
    supported: u32,
    found: Option<u64>,
) -> Result<(), StateError> {
    match found {
        None => Err(StateError::Corrupt {
            what,
            message: "it has no `version`".into(),
        }),
        Some(found) if found != u64::from(supported) => Err(StateError::UnsupportedVersion {
            what,
            found,
            supported,
        }),
        Some(_) => Ok(()),
    }
}

pub(crate) fn corrupt(what: &'static str, err: impl std::fmt::Display) -> StateError {
    StateError::Corrupt {
        what,
        message: err.to_string(),
    }
}

/// A 64-bit hash as 16 lowercase hex digits.
pub(crate) fn hex64(n: u64) -> String {
    format!("{n:016x}")
}

/// The inverse of [`hex64`]: exactly 16 hex digits.
pub(crate) fn parse_hex64(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

impl Engine {
    /// The engine's open state: everything that decides its later output (see the
    /// [module docs](crate::engine::snapshot)). Taken between two events; the engine is unchanged.
    pub fn snapshot(&self) -> EngineState {
        EngineState {
            version: ENGINE_STATE_VERSION,
            watermark: saved_time(self.watermark),
            last_evict: saved_time(self.last_evict),
            since_evict: self.since_evict,
            detections: self.states.iter().map(save_detection).collect(),
        }
    }

    /// An engine for `ruleset` with the state `state` was taken of, and the default [`Limits`].
    /// Rules and sequences whose definition changed since start fresh (see [`RestoreReport`]).
    pub fn restore(
        ruleset: Arc<Ruleset>,
        state: EngineState,
    ) -> Result<(Engine, RestoreReport), StateError> {
        Engine::restore_with_limits(ruleset, Limits::default(), state)
    }

    /// [`Engine::restore`] with `limits`. The restored engine behaves exactly as the saved one
    /// when the limits are those it ran with.
    pub fn restore_with_limits(
        ruleset: Arc<Ruleset>,
        limits: Limits,
        state: EngineState,
    ) -> Result<(Engine, RestoreReport), StateError> {
        check_version(WHAT, ENGINE_STATE_VERSION, Some(u64::from(state.version)))?;
        let mut engine = Engine::with_limits(Arc::clone(&ruleset), limits);
        let mut saved: HashMap<String, SavedDetection> = HashMap::new();
        let mut order = Vec::new();
        for detection in state.detections {
            order.push(detection.name.clone());
            let name = detection.name.clone();
            if saved.insert(name.clone(), detection).is_some() {
                return Err(StateError::Corrupt {
                    what: WHAT,
                    message: format!("`{name}` is saved twice"),
                });
            }
        }
        let mut report = RestoreReport::default();
        let fresh = fresh_states(&ruleset, limits);
        engine.states = Vec::with_capacity(fresh.len());
        for (i, mut current) in fresh.into_iter().enumerate() {
            let name = current.detection.name.clone();
            let Some(detection) = saved.remove(&*name) else {
                report.added.push(name);
                engine.states.push(current);
                continue;
            };
            let Some(fingerprint) = parse_hex64(&detection.fingerprint) else {
                return Err(StateError::Corrupt {
                    what: WHAT,
                    message: format!(
                        "the fingerprint of `{name}`, `{}`, is not 16 hex digits",
                        detection.fingerprint
                    ),
                });
            };
            let same = detection.kind == SavedKind::from(current.detection.kind)
                && fingerprint == current.detection.fingerprint;
            if same {
                load_detection(&ruleset, i, limits, &mut current, detection).map_err(
                    |Invalid(message)| StateError::Corrupt {
                        what: WHAT,
                        message: format!("the state of `{name}`: {message}"),
                    },
                )?;
                report.kept.push(name);
            } else {
                // As on a reload: the state goes, the counters go on.
                report.changed.push(DroppedState {
                    name: name.to_string(),
                    open_alerts: detection.aggregation.open_alerts(),
                });
                current.stats = detection.stats;
            }
            engine.states.push(current);
        }
        for name in order {
            if let Some(detection) = saved.remove(&name) {
                report.removed.push(DroppedState {
                    name,
                    open_alerts: detection.aggregation.open_alerts(),
                });
            }
        }
        engine.watermark = loaded_time(state.watermark);
        engine.last_evict = loaded_time(state.last_evict);
        engine.since_evict = state.since_evict;
        Ok((engine, report))
    }
}

fn save_detection(state: &DetectionState) -> SavedDetection {
    let mut payloads: Vec<SavedPayload> = state
        .payloads
        .iter()
        .map(|(id, payload)| SavedPayload {
            id: id.clone(),
            title: payload.title.clone(),
            group: payload
                .group
                .iter()
                .map(|(path, value)| GroupValue {
                    path: path.clone(),
                    value: value.clone(),
                })
                .collect(),
            fields: (*payload.fields).clone(),
            context: (*payload.context).clone(),
        })
        .collect();
    payloads.sort_by(|a, b| a.id.cmp(&b.id));
    SavedDetection {
        name: state.detection.name.to_string(),
        kind: state.detection.kind.into(),
        fingerprint: hex64(state.detection.fingerprint),
        stats: state.stats.clone(),
        aggregation: state.aggregation.snapshot(),
        threshold: state.threshold.as_ref().map(Threshold::snapshot),
        sequence: match &state.sequence {
            Some(Progress::InOrder(s)) => Some(s.snapshot()),
            _ => None,
        },
        any_order: match &state.sequence {
            Some(Progress::AnyOrder(s)) => Some(s.snapshot()),
            _ => None,
        },
        payloads,
    }
}

/// Loads a saved detection into `current`, the fresh state of the `index`th detection of
/// `ruleset` (rules first, then sequences), whose definition it was saved with.
fn load_detection(
    ruleset: &Ruleset,
    index: usize,
    limits: Limits,
    current: &mut DetectionState,
    saved: SavedDetection,
) -> Result<(), Invalid> {
    current.aggregation =
        Aggregation::restore(current.detection.within_ms, limits, saved.aggregation)?;
    match ruleset.rules.get(index) {
        Some(rule) => {
            if saved.sequence.is_some() || saved.any_order.is_some() {
                return Err(Invalid::new("a rule with partial sequence matches"));
            }
            current.threshold = match (&rule.threshold, saved.threshold) {
                (Some(spec), Some(saved)) => Some(Threshold::restore(
                    spec.counting,
                    spec.condition.clone(),
                    spec.within_ms,
                    limits,
                    saved,
                )?),
                (None, None) => None,
                (Some(_), None) => return Err(Invalid::new("its threshold is missing")),
                (None, Some(_)) => return Err(Invalid::new("a threshold, and the rule has none")),
            };
        }
        None => {
            let seq = &ruleset.sequences[index - ruleset.rules.len()];
            if saved.threshold.is_some() {
                return Err(Invalid::new("a sequence with a threshold"));
            }
            current.sequence = Some(match (seq.order, saved.sequence, saved.any_order) {
                (Order::InOrder, Some(saved), None) => Progress::InOrder(Sequence::restore(
                    seq.steps.len(),
                    seq.within_ms,
                    limits,
                    saved,
                )?),
                (Order::AnyOrder { need }, None, Some(saved)) => Progress::AnyOrder(
                    AnyOrder::restore(seq.steps.len(), need, seq.within_ms, limits, saved)?,
                ),
                (_, None, None) => return Err(Invalid::new("its partial matches are missing")),
                (Order::InOrder, ..) => {
                    return Err(Invalid::new(
                        "steps in any order, and the sequence's are in order",
                    ))
                }
                (Order::AnyOrder { .. }, ..) => {
                    return Err(Invalid::new(
                        "steps in order, and the sequence's are in any order",
                    ))
                }
            });
        }
    }
    let mut payloads = HashMap::with_capacity(saved.payloads.len());
    for payload in saved.payloads {
        let id = payload.id;
        let payload = Payload {
            title: payload.title,
            group: payload
                .group
                .into_iter()
                .map(|g| (g.path, g.value))
                .collect(),
            fields: Arc::new(payload.fields),
            context: Arc::new(payload.context),
        };
        if payloads.insert(id.clone(), payload).is_some() {
            return Err(Invalid::new(format!("alert `{id}` is saved twice")));
        }
    }
    current.payloads = payloads;
    current.stats = saved.stats;
    Ok(())
}
