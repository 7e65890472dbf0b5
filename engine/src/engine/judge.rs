//! The stateless half of evaluation: which rules' `when` and which inline sequence steps hold
//! for each event of a batch. It reads only the ruleset and the events, so the pipeline runs it
//! on its worker threads, next to decoding, and the engine's thread keeps only what needs state
//! and order (thresholds, sequences, aggregation): [`Ruleset::judge`], then
//! [`super::Engine::apply`] per event.

use std::sync::Arc;

use crate::eval::{Cond, EvalCtx, EvalError};
use crate::event::Event;
use crate::ruleset::Ruleset;

/// Buffers reused from one event (and batch) to the next by [`Ruleset::judge_into`].
#[derive(Debug, Default)]
pub struct Scratch {
    /// The prefilter's candidate rules for the current event.
    candidates: Vec<u64>,
    /// The current event's slot cache (see [`crate::path::SlotCache`]).
    slot_entries: Vec<u32>,
}

/// One failure of a condition on one event.
#[derive(Debug, Clone)]
pub(crate) struct JudgeError {
    /// The event's index in the batch.
    pub(crate) event: usize,
    /// The rule's index, or the number of rules plus the sequence's index.
    pub(crate) detection: usize,
    /// What failed.
    pub(crate) error: EvalError,
}

/// The verdicts on a batch of events (see [`Ruleset::judge`]).
#[derive(Default)]
pub struct Judged {
    /// The ruleset judged by, so that a verdict is never applied by another (held, so that its
    /// address cannot be reused by a later ruleset while the verdict exists).
    pub(crate) ruleset: Option<Arc<Ruleset>>,
    /// The number of events.
    pub(crate) events: usize,
    /// Words per event: the rules' bits, then the inline steps' bits (the prefilter's bits).
    stride: usize,
    /// The number of rules: where an event's inline step bits start.
    rules: usize,
    bits: Vec<u64>,
    /// In event order, then detection order, then the order they happened in.
    errors: Vec<JudgeError>,
}

impl std::fmt::Debug for Judged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judged")
            .field("events", &self.events)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl Judged {
    /// Lets go of the ruleset the verdicts were made with (and so they apply to no event any
    /// more), keeping the buffers: a verdict kept for reuse must not keep an old ruleset alive
    /// after a reload.
    pub fn forget_ruleset(&mut self) {
        self.ruleset = None;
        self.events = 0;
    }

    /// The rules whose `when` held for `event` (without an error), in rule order.
    pub(crate) fn rules_matched(&self, event: usize) -> impl Iterator<Item = usize> + '_ {
        let words = &self.bits[event * self.stride..(event + 1) * self.stride];
        let rules = self.rules;
        words
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| {
                let mut rest = word;
                std::iter::from_fn(move || {
                    if rest == 0 {
                        return None;
                    }
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    Some(w * 64 + bit)
                })
            })
            .take_while(move |&i| i < rules)
    }

    /// Whether inline step `step` (counted over every sequence, in order) held for `event`.
    #[inline]
    pub(crate) fn step_held(&self, event: usize, step: usize) -> bool {
        let bit = self.rules + step;
        let word = self.bits[event * self.stride + bit / 64];
        word & (1 << (bit % 64)) != 0
    }

    /// The failures on event `event`, in detection order.
    pub(crate) fn errors_of(&self, event: usize) -> impl Iterator<Item = &JudgeError> {
        let start = self.errors.partition_point(|e| e.event < event);
        self.errors[start..]
            .iter()
            .take_while(move |e| e.event == event)
    }
}

impl Ruleset {
    /// Judges `events`: for each, which rules' `when` hold and which inline sequence steps
    /// happen, and which scripts or functions failed. Pure: any thread may judge a batch, and
    /// [`super::Engine::apply`] then applies the verdicts in order.
    pub fn judge(self: &Arc<Self>, events: &[Event], scratch: &mut Scratch) -> Judged {
        let mut judged = Judged::default();
        self.judge_into(events, scratch, &mut judged);
        judged
    }

    /// [`Ruleset::judge`] into `judged`, reusing its buffers.
    pub fn judge_into(
        self: &Arc<Self>,
        events: &[Event],
        scratch: &mut Scratch,
        judged: &mut Judged,
    ) {
        if !judged
            .ruleset
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, self))
        {
            judged.ruleset = Some(Arc::clone(self));
        }
        judged.events = events.len();
        judged.rules = self.rules.len();
        judged.stride = (self.rules.len() + self.inline_steps).div_ceil(64);
        judged.bits.clear();
        judged.bits.resize(events.len() * judged.stride, 0);
        judged.errors.clear();
        let inline: Vec<(usize, &Cond)> = self
            .inline_steps_iter()
            .map(|(sequence, cond, _)| (sequence, cond))
            .collect();
        for (n, event) in events.iter().enumerate() {
            let words = &mut judged.bits[n * judged.stride..(n + 1) * judged.stride];
            let mut ctx = EvalCtx::new(
                event.root(),
                &self.scripts,
                &self.slots,
                &mut scratch.slot_entries,
            );
            ctx.candidates(event.kind, &self.prefilter, &mut scratch.candidates);
            let rules = self.rules.len();
            for (w, &word) in scratch.candidates.iter().enumerate() {
                let mut rest = word;
                while rest != 0 {
                    let i = w * 64 + rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let (cond, detection) = match i.checked_sub(rules) {
                        None => (&self.rules[i].when, i),
                        Some(step) => {
                            let (sequence, cond) = inline[step];
                            (cond, rules + sequence)
                        }
                    };
                    let matched = cond.eval(&mut ctx);
                    if !ctx.errors.is_empty() {
                        judged
                            .errors
                            .extend(ctx.errors.drain(..).map(|error| JudgeError {
                                event: n,
                                detection,
                                error,
                            }));
                    } else if matched {
                        words[i / 64] |= 1 << (i % 64);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::{Engine, Event, Output, Ruleset};

    fn ruleset() -> Arc<Ruleset> {
        let text = r#"
macro person = not user.username startswith "system:"
rule exec {
    title "exec by {user.username}, {count} times"
    when objectRef.subresource == "exec" and person
    group by user.username
}
rule burst {
    when responseStatus.code == 403
    threshold count >= 2 within 1m by user.username
}
rule broken { when verb == "delete" and script { event.objectRef.name.len() > 2 } }
sequence forbidden_then_exec {
    by user.username
    within 5m
    steps burst -> { objectRef.subresource == "exec" and script { event.user.username.len() > 4 } }
}
"#;
        Arc::new(crate::loader::ruleset_of(text))
    }

    fn events() -> Vec<Event> {
        let raw = [
            json!({"verb": "get", "user": {"username": "mallory"}, "responseStatus": {"code": 403}}),
            json!({"verb": "list", "user": {"username": "mallory"}, "responseStatus": {"code": 403}}),
            json!({"verb": "create", "user": {"username": "mallory"}, "objectRef": {"subresource": "exec"}}),
            // No name: the script fails on a missing field, and the error is reported.
            json!({"verb": "delete", "user": {"username": "bob"}, "objectRef": {"resource": "pods"}}),
            json!({"verb": "delete", "user": {"username": "bob"}, "objectRef": {"name": "api-0"}}),
            // A missing user makes the sequence's inline script fail.
            json!({"verb": "create", "objectRef": {"subresource": "exec"}}),
            json!({"verb": "create", "user": {"username": "system:node:n"}, "objectRef": {"subresource": "exec"}}),
        ];
        raw.into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e["requestReceivedTimestamp"] = json!(format!("2024-05-01T12:00:0{i}Z"));
                Event::classify(e, &format!("t:{i}")).expect("an event")
            })
            .collect()
    }

    #[test]
    fn a_batch_judged_then_applied_gives_what_processing_each_event_gives() {
        let rules = ruleset();
        let events = events();

        let mut one_by_one = Engine::new(Arc::clone(&rules));
        one_by_one.record_matches(true);
        let mut expected = Output::default();
        for e in &events {
            one_by_one.process(e, &mut expected);
        }
        let expected = crate::engine::outcome(&one_by_one, &expected);
        assert!(
            expected.iter().any(|l| l.starts_with("New")),
            "{expected:#?}"
        );
        assert!(
            expected.iter().any(|l| l.contains("script")),
            "{expected:#?}"
        );
        assert!(
            expected
                .iter()
                .any(|l| l.contains("forbidden_then_exec") && l.contains("event_id")),
            "{expected:#?}"
        );

        // An engine of `rules` applying the verdicts of `judged_by` on the events.
        let applied = |judged_by: &Arc<Ruleset>| {
            let judged = judged_by.judge(&events, &mut super::Scratch::default());
            let mut engine = Engine::new(Arc::clone(&rules));
            engine.record_matches(true);
            let mut out = Output::default();
            for (i, e) in events.iter().enumerate() {
                engine.apply(e, &judged, i, &mut out);
            }
            crate::engine::outcome(&engine, &out)
        };
        assert_eq!(applied(&rules), expected);
        // Verdicts of another ruleset (a reload in between) are not used: events are judged again.
        assert_eq!(applied(&ruleset()), expected);
    }

    /// What a sink got before the engine coalesced: every update, then the latest state of each
    /// alert in the order alerts first appeared, `New` if it opened in the batch.
    fn coalesced(updates: Vec<crate::AlertUpdate>) -> Vec<String> {
        let mut batch: Vec<crate::AlertUpdate> = Vec::new();
        for update in updates {
            match batch.iter().position(|b| b.alert.id == update.alert.id) {
                Some(i) => {
                    let kind = if batch[i].kind == crate::AlertKind::New {
                        crate::AlertKind::New
                    } else {
                        update.kind
                    };
                    batch[i] = crate::AlertUpdate { kind, ..update };
                }
                None => batch.push(update),
            }
        }
        batch
            .iter()
            .map(|u| format!("{:?} {}", u.kind, u.alert.to_json()))
            .collect()
    }

    #[test]
    fn coalesced_alerts_are_each_alerts_latest_state_per_batch() {
        let rules = ruleset();
        let mut events = events();
        // More updates of the same alerts: `exec` by mallory again, a third forbidden request.
        events.extend(events.clone());
        let batches = [&events[..2], &events[2..]];

        let mut every = Engine::new(Arc::clone(&rules));
        let mut coalescing = Engine::new(Arc::clone(&rules));
        coalescing.coalesce_alerts(true);
        let (mut all, mut out) = (Output::default(), Output::default());
        let (mut updates, mut merged) = (0, 0);
        for batch in batches {
            for e in batch {
                every.process(e, &mut all);
                coalescing.process(e, &mut out);
            }
            let raw = std::mem::take(&mut all.alerts);
            merged += raw.len() - coalesced(raw.clone()).len();
            let expected = coalesced(raw);
            updates += expected.len();
            assert_eq!(
                (out.alerts_new + out.alerts_updated) as usize,
                all.alerts_new as usize + all.alerts_updated as usize
            );
            let got: Vec<String> = out
                .take_alerts()
                .iter()
                .map(|u| format!("{:?} {}", u.kind, u.alert.to_json()))
                .collect();
            assert_eq!(got, expected);
            out.alerts_new = 0;
            out.alerts_updated = 0;
            all.alerts_new = 0;
            all.alerts_updated = 0;
        }
        assert!(updates >= 4 && merged >= 2, "{updates} {merged}");
        assert_eq!(
            crate::engine::outcome(&every, &Output::default()),
            crate::engine::outcome(&coalescing, &Output::default())
        );
    }
}
