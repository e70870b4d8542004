//! The one source of "now" for everything that decides or records by time: grant validity,
//! event timestamps, the rows the store writes, token use, the console's last login.
//!
//! Why a seam: time-dependent behaviour (a grant that starts tomorrow, a two-person session
//! that times out, an event's timestamp) could only be tested by sleeping, or not at all. The
//! core is handed a [`SharedClock`] when it is built; production passes [`SystemClock`], tests
//! pass a [`TestClock`] they move by hand. Intervals that only measure durations (lock-out
//! windows, pacing) use `std::time::Instant`/tokio time and are tested with explicit instants or
//! tokio's paused clock instead.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::model::Millis;

/// Wall-clock time in UTC milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> Millis;
}

/// The clock handed around: cheap to clone, shared by every part of one controller.
pub type SharedClock = Arc<dyn Clock>;

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The system clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until it is moved: `set` and `advance` change what every holder
/// reads at once.
#[derive(Debug, Default)]
pub struct TestClock {
    ms: AtomicI64,
}

impl TestClock {
    /// A clock standing at `ms`.
    pub fn at(ms: Millis) -> Arc<Self> {
        Arc::new(Self {
            ms: AtomicI64::new(ms),
        })
    }

    pub fn set(&self, ms: Millis) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = Millis::try_from(by.as_millis()).unwrap_or(Millis::MAX);
        self.ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> Millis {
        self.ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_only_when_told_and_every_holder_sees_it() {
        let clock = TestClock::at(1_000);
        let shared: SharedClock = clock.clone();
        assert_eq!(shared.now_ms(), 1_000);
        clock.advance(std::time::Duration::from_secs(90));
        assert_eq!(shared.now_ms(), 91_000);
        clock.set(5);
        assert_eq!(shared.now_ms(), 5);
    }

    #[test]
    fn the_system_clock_reads_the_real_time() {
        let before = chrono::Utc::now().timestamp_millis();
        let now = SystemClock.now_ms();
        assert!(now >= before && now - before < 60_000);
    }
}
