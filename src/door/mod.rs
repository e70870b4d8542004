//! Door hardware: relay and inputs over GPIO, and the door controller state machine.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[door]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DoorConfig {}

impl DoorConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
