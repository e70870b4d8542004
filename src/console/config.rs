//! `[console]`: the technician and admin web console's sessions and login throttling.

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// `[console]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Minutes without a request after which a console session ends (the user logs in again).
    pub idle_timeout_mins: u64,
    /// Failed logins (per account name and per client address) within `login_window_secs`
    /// after which further attempts are refused until the window has passed.
    pub max_failed_logins: u32,
    /// The window, in seconds, over which failed logins are counted.
    pub login_window_secs: u64,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Set it whenever the console is
    /// served over TLS; over plain HTTP on localhost the browser would drop such a cookie.
    pub secure_cookie: bool,
    /// Frames per second of the Live page's camera stream (MJPEG); a few are enough to see
    /// what the camera sees, and each costs a JPEG encode on the controller.
    pub live_fps: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle_timeout_mins: 15,
            max_failed_logins: 5,
            login_window_secs: 300,
            secure_cookie: false,
            live_fps: 4,
        }
    }
}

impl ConsoleConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.idle_timeout_mins == 0 || self.idle_timeout_mins > 24 * 60 {
            return bad("console.idle_timeout_mins", "must be between 1 and 1440");
        }
        if self.max_failed_logins == 0 {
            return bad("console.max_failed_logins", "must be at least 1");
        }
        if self.login_window_secs == 0 || self.login_window_secs > 86_400 {
            return bad("console.login_window_secs", "must be between 1 and 86400");
        }
        if self.live_fps == 0 || self.live_fps > 15 {
            return bad("console.live_fps", "must be between 1 and 15");
        }
        Ok(())
    }
}
