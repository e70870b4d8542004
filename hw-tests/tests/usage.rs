//! The test programs refuse what they cannot run with a usage message and exit status 2, on the
//! host, before any guest boots. Having an integration test also makes `cargo test --workspace`
//! build `hw-camera` and `hw-door` as programs, so `hw-tests/run` takes them from that build
//! instead of compiling every crate a second time in another feature set.

use std::process::Command;

/// Exit code and standard error of BIN with ARGS, without the guest's environment.
fn run(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .args(args)
        .env_remove("WARDGATE_HW_GPIO_CHIP")
        .env_remove("WARDGATE_HW_GPIO_SYSFS")
        .output()
        .expect("the test program runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hw_camera_without_a_mode_prints_its_usage() {
    let (code, err) = run(env!("CARGO_BIN_EXE_hw-camera"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("usage: hw-camera vivid|unplug|loopback|nir"),
        "{err}"
    );
}

#[test]
fn hw_door_names_an_option_without_its_value() {
    let (code, err) = run(env!("CARGO_BIN_EXE_hw-door"), &["--chip"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--chip needs a value"), "{err}");
}

#[test]
fn hw_door_without_a_chip_says_how_to_name_one() {
    let (code, err) = run(env!("CARGO_BIN_EXE_hw-door"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("pass --chip or set WARDGATE_HW_GPIO_CHIP"),
        "{err}"
    );
}

#[test]
fn hw_door_controller_needs_its_config() {
    let (code, err) = run(env!("CARGO_BIN_EXE_hw-door"), &["controller"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("usage: hw-door controller CONFIG.toml"),
        "{err}"
    );
}
