//! Loading and unloading the guest's kernel modules. The guest's module tree lives in the
//! harness cache on the host (`WARDGATE_HW_MODROOT`), so `modprobe -d` must point at it.

use std::process::Command;

use anyhow::{bail, Context, Result};

fn modprobe(args: &[&str]) -> Result<()> {
    let root = crate::env_path("WARDGATE_HW_MODROOT")?;
    let out = Command::new("modprobe")
        .arg("-d")
        .arg(&root)
        .args(args)
        .output()
        .context("cannot run modprobe")?;
    if !out.status.success() {
        bail!(
            "modprobe {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `modprobe NAME PARAMS...` against the guest's module tree.
pub fn load(name: &str, params: &[&str]) -> Result<()> {
    let mut args = vec![name];
    args.extend_from_slice(params);
    modprobe(&args)
}

/// `modprobe -r NAME` (fails while the module is in use).
pub fn unload(name: &str) -> Result<()> {
    modprobe(&["-r", name])
}
