//! Logging: journald (structured fields) under systemd, plain stderr otherwise.
//!
//! Never log embeddings or images: they are biometric data. Decisions log ids and reasons only.

use std::io::Write;

/// Installs the logger. `verbosity` 0 = info, 1 = debug, 2+ = trace; `RUST_LOG`-style
/// `WARDGATE_LOG=debug` also works.
pub fn init(verbosity: u8) {
    let level = match std::env::var("WARDGATE_LOG").ok().as_deref() {
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        _ => match verbosity {
            0 => log::LevelFilter::Info,
            1 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        },
    };
    if systemd_journal_logger::connected_to_journal() {
        if let Ok(l) = systemd_journal_logger::JournalLog::new() {
            if l.with_syslog_identifier("wardgate".into())
                .install()
                .is_ok()
            {
                log::set_max_level(level);
                return;
            }
        }
    }
    if log::set_boxed_logger(Box::new(Stderr)).is_ok() {
        log::set_max_level(level);
    }
}

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        // Chatty dependency internals stay at warn unless tracing.
        let target = record.target();
        if !target.starts_with("wardgate")
            && record.level() > log::Level::Warn
            && log::max_level() < log::LevelFilter::Trace
        {
            return;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let _ = writeln!(
            std::io::stderr().lock(),
            "{now} {:<5} {target}: {}",
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}
