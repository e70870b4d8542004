//! A tiny check runner: every check prints `ok NAME` or `FAIL NAME: why`, the program's exit
//! code is the number of failures (capped), so one failing check does not hide the others.

use std::time::Instant;

/// Collects the outcome of named checks.
#[derive(Default)]
pub struct Checks {
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one check; an `Err` is a failure with its message (and cause chain).
    pub fn run(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<()>) {
        let start = Instant::now();
        match f() {
            Ok(()) => {
                self.passed += 1;
                println!("ok {name} ({:.1} s)", start.elapsed().as_secs_f64());
            }
            Err(e) => {
                println!("FAIL {name}: {e:#}");
                self.failed.push(name.to_owned());
            }
        }
    }

    /// Prints the summary and exits with 0 only when every check passed.
    pub fn finish(self) -> ! {
        println!(
            "{} checks passed, {} failed{}",
            self.passed,
            self.failed.len(),
            if self.failed.is_empty() {
                String::new()
            } else {
                format!(": {}", self.failed.join(", "))
            }
        );
        std::process::exit(i32::from(!self.failed.is_empty()));
    }
}
