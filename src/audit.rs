//! Tamper-evident audit log: every event carries `hash = SHA-256(prev_hash ‖ canonical event)`.
//!
//! Each controller (`events.node`) keeps its own chain, numbered from 1, starting from
//! [`GENESIS`]. Changing, removing or reordering any stored event breaks every later hash, and
//! `wardgate audit verify` (or [`verify`]) names the first broken link.

use sha2::{Digest, Sha256};

use crate::model::{Event, Millis};

/// `prev_hash` of the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical bytes of an event: every field but `hash`, in a fixed order, as compact JSON
/// (object keys of `details` are sorted by serde_json's default map).
pub fn canonical(e: &Event) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([
        e.id,
        e.node,
        e.seq,
        e.ts_ms,
        e.kind,
        e.door_id,
        e.subject_id,
        e.patient_id,
        e.granted,
        e.reason,
        e.details,
    ]))
    .unwrap_or_default()
}

/// The hash an event must carry given its predecessor's.
pub fn chain_hash(prev_hash: &str, e: &Event) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical(e));
    hex::encode(h.finalize())
}

pub use crate::model::EventKind;

/// What an event is before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventDraft {
    pub kind: EventKind,
    pub door_id: Option<String>,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub granted: Option<bool>,
    pub reason: String,
    pub details: serde_json::Value,
}

/// The head of one node's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub node: String,
    pub seq: i64,
    pub head: String,
}

impl Chain {
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_owned(),
            seq: 0,
            head: GENESIS.to_owned(),
        }
    }

    /// Continues after `last` (the newest stored event of this node).
    pub fn after(last: &Event) -> Self {
        Self {
            node: last.node.clone(),
            seq: last.seq,
            head: last.hash.clone(),
        }
    }

    /// Seals a draft as the next event of the chain.
    pub fn seal(&mut self, d: EventDraft, ts_ms: Millis) -> Event {
        let mut e = Event {
            id: crate::model::new_id(),
            node: self.node.clone(),
            seq: self.seq + 1,
            ts_ms,
            kind: d.kind,
            door_id: d.door_id,
            subject_id: d.subject_id,
            patient_id: d.patient_id,
            granted: d.granted,
            reason: d.reason,
            details: d.details,
            prev_hash: self.head.clone(),
            hash: String::new(),
        };
        e.hash = chain_hash(&e.prev_hash, &e);
        self.seq = e.seq;
        self.head = e.hash.clone();
        e
    }
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event seq {seq}: expected seq {expected} (an event is missing or reordered)")]
    Gap { seq: i64, expected: i64 },
    #[error("event seq {seq}: prev_hash does not match the previous event's hash")]
    Link { seq: i64 },
    #[error("event seq {seq}: hash does not match its content (the event was altered)")]
    Content { seq: i64 },
}

/// Incremental verifier, so a long chain is checked page by page.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: i64,
    head: String,
    pub checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            head: GENESIS.to_owned(),
            checked: 0,
        }
    }
}

impl Verifier {
    /// A verifier that picks a chain up after its pruned prefix: the next event must be
    /// `through_seq + 1` and link to `last_hash`, the hash of the last event pruned.
    pub fn resume(through_seq: i64, last_hash: &str) -> Self {
        Self {
            expected_seq: through_seq + 1,
            head: last_hash.to_owned(),
            checked: 0,
        }
    }

    pub fn push(&mut self, e: &Event) -> Result<(), ChainBreak> {
        if e.seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                seq: e.seq,
                expected: self.expected_seq,
            });
        }
        if e.prev_hash != self.head {
            return Err(ChainBreak::Link { seq: e.seq });
        }
        if chain_hash(&e.prev_hash, e) != e.hash {
            return Err(ChainBreak::Content { seq: e.seq });
        }
        self.expected_seq += 1;
        self.head = e.hash.clone();
        self.checked += 1;
        Ok(())
    }
}

/// Verifies a whole chain in order; returns how many events were checked.
pub fn verify<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<u64, ChainBreak> {
    let mut v = Verifier::default();
    for e in events {
        v.push(e)?;
    }
    Ok(v.checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<Event> {
        let mut c = Chain::new("door-a");
        (0..n)
            .map(|i| {
                c.seal(
                    EventDraft {
                        kind: EventKind::Decision,
                        door_id: Some("ward".into()),
                        granted: Some(i % 2 == 0),
                        reason: "granted".into(),
                        details: serde_json::json!({"similarity": 0.8, "i": i}),
                        ..Default::default()
                    },
                    1000 + i as i64,
                )
            })
            .collect()
    }

    #[test]
    fn a_resumed_verifier_checks_the_rest_of_a_pruned_chain() {
        let c = chain(6);
        let mut v = Verifier::resume(c[2].seq, &c[2].hash);
        for e in &c[3..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.checked, 3);
        // Starting one event late, or from the wrong hash, is a break.
        let mut v = Verifier::resume(c[2].seq, &c[2].hash);
        assert_eq!(
            v.push(&c[4]),
            Err(ChainBreak::Gap {
                seq: 5,
                expected: 4
            })
        );
        let mut v = Verifier::resume(c[2].seq, &c[1].hash);
        assert_eq!(v.push(&c[3]), Err(ChainBreak::Link { seq: 4 }));
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(c[0].prev_hash, GENESIS);
        assert_eq!(verify(&c), Ok(5));
    }

    #[test]
    fn altering_any_field_is_detected() {
        let mut c = chain(4);
        c[2].granted = Some(true ^ c[2].granted.unwrap());
        assert_eq!(verify(&c), Err(ChainBreak::Content { seq: 3 }));
        let mut c = chain(4);
        c[1].details = serde_json::json!({"similarity": 0.99, "i": 1});
        assert_eq!(verify(&c), Err(ChainBreak::Content { seq: 2 }));
    }

    #[test]
    fn removal_and_rehash_are_detected() {
        let mut c = chain(4);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainBreak::Gap {
                seq: 3,
                expected: 2
            })
        );
        // Rewriting an event and its own hash still breaks the next link.
        let mut c = chain(4);
        c[1].reason = "not_permitted".into();
        c[1].hash = chain_hash(&c[1].prev_hash, &c[1]);
        assert_eq!(verify(&c), Err(ChainBreak::Link { seq: 3 }));
    }

    #[test]
    fn chain_continues_after_last_event() {
        let c = chain(3);
        let mut next = Chain::after(&c[2]);
        let e = next.seal(EventDraft::default(), 5);
        let mut all = c.clone();
        all.push(e);
        assert_eq!(verify(&all), Ok(4));
    }

    #[test]
    fn chain_survives_a_text_round_trip_of_float_details() {
        // The store keeps details as JSON text; a parser that is off by one ULP on reading a
        // float back would break every hash after it.
        let mut c = Chain::new("n");
        let events: Vec<Event> = (0..2000u32)
            .map(|i| {
                let sim = (i as f32 * 0.000_731).sin();
                c.seal(
                    EventDraft {
                        details: serde_json::json!({ "staff_similarity": sim, "x": f64::from(sim) / 3.0 }),
                        ..Default::default()
                    },
                    i64::from(i),
                )
            })
            .collect();
        let reread: Vec<Event> = events
            .iter()
            .map(|e| {
                let mut r = e.clone();
                r.details = serde_json::from_str(&e.details.to_string()).unwrap();
                r
            })
            .collect();
        assert_eq!(verify(&reread), Ok(2000));
    }
}
