//! Fixtures shared by the unit tests of several modules (compiled only for `cargo test`).

use std::sync::{Arc, Mutex};

use crate::events::EventBackend;
use crate::model::{Event, Role, Subject, SubjectStatus};
use crate::store::StoreError;
use crate::vision::detect::Detection;

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

/// A face detection `size` pixels wide at (`x0`, `y0`) with plausible keypoints.
pub(crate) fn test_detection(x0: f32, y0: f32, size: f32) -> Detection {
    use crate::vision::align::Point;
    let p = |fx: f32, fy: f32| Point {
        x: x0 + fx * size,
        y: y0 + fy * size,
    };
    Detection {
        x0,
        y0,
        x1: x0 + size,
        y1: y0 + size,
        score: 0.9,
        keypoints: [
            p(0.3, 0.4),
            p(0.7, 0.4),
            p(0.5, 0.6),
            p(0.5, 0.8),
            p(0.1, 0.5),
            p(0.9, 0.5),
        ],
    }
}
