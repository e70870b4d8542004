//! Helpers for Wardgate's hardware test programs. They run inside the QEMU guest started by
//! `hw-tests/run` (see hw-tests/README.md), where the environment names the devices:
//! `WARDGATE_HW_VIVID`, `WARDGATE_HW_LOOPBACK`, `WARDGATE_HW_LOOPBACK_IR`,
//! `WARDGATE_HW_GPIO_CHIP`, `WARDGATE_HW_GPIO_SYSFS`,
//! `WARDGATE_HW_MODROOT`, `WARDGATE_HW_FACES`, `WARDGATE_HW_ARTIFACTS`.

pub mod checks;
pub mod gpio_sim;
pub mod kmod;

use std::path::PathBuf;

use anyhow::{Context, Result};

/// A required environment variable set by the guest init.
pub fn env_path(var: &str) -> Result<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .with_context(|| format!("{var} is not set: run this program through hw-tests/run"))
}
