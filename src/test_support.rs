//! Fixtures shared by the unit tests of several modules (compiled only for `cargo test`).

use std::sync::{Arc, Mutex};

use crate::events::EventBackend;
use crate::model::{Event, Role, Subject, SubjectStatus};
use crate::store::StoreError;

/// An event store that keeps what it is given in memory.
#[derive(Clone, Default)]
pub(crate) struct Memory(pub(crate) Arc<Mutex<Vec<Event>>>);

impl EventBackend for Memory {
    async fn append(&self, events: &[Event]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
    async fn last(&self, _node: &str) -> Result<Option<Event>, StoreError> {
        Ok(None)
    }
}

/// An active, admin-owned subject whose id is also its name.
pub(crate) fn subject(id: &str, role: Role) -> Subject {
    Subject {
        id: id.into(),
        external_id: format!("ext-{id}"),
        name: id.into(),
        role,
        status: SubjectStatus::Active,
        source: "admin".into(),
        created_ms: 0,
        updated_ms: 0,
    }
}
