//! Access policy: who may open which door, including the doctor→patient two-person check, and
//! the one decision service every channel decides and records through ([`decider`]).

pub mod decider;
pub mod directory;
pub mod factors;
pub mod policy;
pub mod presented;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// `[access]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Seconds a verified staff member waits for the patient's face at a `staff_with_patient`
    /// door before the two-person session times out.
    pub two_person_timeout_secs: u64,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            two_person_timeout_secs: 30,
        }
    }
}

impl AccessConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.two_person_timeout_secs == 0 || self.two_person_timeout_secs > 600 {
            return Err(ConfigError::Invalid {
                key: "access.two_person_timeout_secs".into(),
                message: "must be between 1 and 600".into(),
            });
        }
        Ok(())
    }
}
