//! Camera capture: the `FrameSource` trait, V4L2 and replay sources.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[camera]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {}

impl CameraConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
