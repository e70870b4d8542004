//! The in-memory directory the door decides from: subjects, doors and non-revoked grants.
//!
//! Loaded from the store at start-up and after every change, and swapped atomically, so a
//! decision never sees half of an update and the door keeps deciding while the database is down.

use std::collections::HashMap;

use crate::model::{Door, Grant, Subject};

#[derive(Debug, Clone, Default)]
pub struct Directory {
    subjects: HashMap<String, Subject>,
    doors: HashMap<String, Door>,
    grants_by_staff: HashMap<String, Vec<Grant>>,
}

impl Directory {
    pub fn new(subjects: Vec<Subject>, doors: Vec<Door>, grants: Vec<Grant>) -> Self {
        let mut grants_by_staff: HashMap<String, Vec<Grant>> = HashMap::new();
        for g in grants {
            grants_by_staff
                .entry(g.staff_id.clone())
                .or_default()
                .push(g);
        }
        Self {
            subjects: subjects.into_iter().map(|s| (s.id.clone(), s)).collect(),
            doors: doors.into_iter().map(|d| (d.id.clone(), d)).collect(),
            grants_by_staff,
        }
    }

    pub fn subject(&self, id: &str) -> Option<&Subject> {
        self.subjects.get(id)
    }

    pub fn door(&self, id: &str) -> Option<&Door> {
        self.doors.get(id)
    }

    pub fn grants_of(&self, staff_id: &str) -> &[Grant] {
        self.grants_by_staff
            .get(staff_id)
            .map_or(&[], Vec::as_slice)
    }

    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }

    pub fn door_count(&self) -> usize {
        self.doors.len()
    }
}
