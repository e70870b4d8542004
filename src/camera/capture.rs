//! The capture thread: pulls frames from a [`FrameSource`], publishes only the newest one,
//! counts delivered/dropped frames, and reopens the source with exponential backoff when it is
//! lost (USB unplug, driver reset) — the door must come back on its own, not wait for a restart.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{CameraError, Frame, FrameSource};

/// The consumer's end of the latest-frame handoff. `None` until the first frame.
pub type FrameWatch = watch::Receiver<Option<Arc<Frame>>>;

/// Opens (and later reopens) the source; called on the capture thread.
pub type SourceOpener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, CameraError> + Send>;

/// What the capture is doing, for health reporting.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureState {
    /// Opening the source for the first time.
    Starting,
    /// Frames are flowing from this source.
    Streaming { source: String },
    /// The source failed; reopen attempts continue with backoff.
    Lost { error: String, attempts: u32 },
    /// A non-looping replay reached its end.
    Ended,
    /// [`Capture::stop`] was called.
    Stopped,
}

/// Counters of a capture since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureStats {
    /// Frames published to the handoff.
    pub delivered: u64,
    /// Frames the driver reported lost (sequence gaps), summed over reconnects.
    pub dropped: u64,
    /// Frames per second over the last ~2 s of capture timestamps.
    pub fps: f64,
    /// How many times the source was lost.
    pub losses: u64,
    /// How many times it was reopened after a loss.
    pub reconnects: u64,
}

/// A running capture thread. Dropping it stops the thread.
pub struct Capture {
    frames: FrameWatch,
    state: watch::Receiver<CaptureState>,
    stats: Arc<Mutex<CaptureStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// A new receiver of the latest frame (each consumer gets its own).
    pub fn frames(&self) -> FrameWatch {
        self.frames.clone()
    }

    /// The current state.
    pub fn state(&self) -> CaptureState {
        self.state.borrow().clone()
    }

    /// A receiver of state changes (for health endpoints and tests).
    pub fn state_watch(&self) -> watch::Receiver<CaptureState> {
        self.state.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CaptureStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The live counters, shared (the console's status page reads them after the capture
    /// has moved to its owner).
    pub fn stats_handle(&self) -> Arc<Mutex<CaptureStats>> {
        Arc::clone(&self.stats)
    }

    /// Stops the thread and waits for it (at most one source timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the capture thread. `reconnect` is (first delay, longest delay) between reopen
/// attempts; the delay doubles after each failed attempt and resets once frames flow again.
pub fn spawn_capture(mut opener: SourceOpener, reconnect: (Duration, Duration)) -> Capture {
    let (frame_tx, frame_rx) = watch::channel(None);
    let (state_tx, state_rx) = watch::channel(CaptureState::Starting);
    let stats = Arc::new(Mutex::new(CaptureStats::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stats = Arc::clone(&stats);
        let stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("wardgate-capture".into())
            .spawn(move || {
                run(&mut opener, reconnect, &frame_tx, &state_tx, &stats, &stop);
                state_tx.send_replace(if stop.load(Ordering::SeqCst) {
                    CaptureState::Stopped
                } else {
                    CaptureState::Ended
                });
            })
            .ok()
    };
    if thread.is_none() {
        log::error!("camera: cannot start the capture thread");
    }
    Capture {
        frames: frame_rx,
        state: state_rx,
        stats,
        stop,
        thread,
    }
}

/// Frames-per-second over a sliding window of capture timestamps.
struct RateMeter {
    stamps: VecDeque<Duration>,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_secs(2);

    fn push(&mut self, t: Duration) -> f64 {
        self.stamps.push_back(t);
        while self.stamps.len() > 2
            && t.saturating_sub(*self.stamps.front().unwrap_or(&t)) > Self::WINDOW
        {
            self.stamps.pop_front();
        }
        match (self.stamps.front(), self.stamps.back()) {
            (Some(a), Some(b)) if b > a => (self.stamps.len() - 1) as f64 / (*b - *a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

fn run(
    opener: &mut SourceOpener,
    (first_delay, max_delay): (Duration, Duration),
    frame_tx: &watch::Sender<Option<Arc<Frame>>>,
    state_tx: &watch::Sender<CaptureState>,
    stats: &Mutex<CaptureStats>,
    stop: &AtomicBool,
) {
    let mut sequence = 0u64;
    let mut dropped_before = 0u64;
    let mut delay = first_delay;
    let mut attempts = 0u32;
    let mut ever_streamed = false;
    let mut last_log = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let mut source = match opener() {
            Ok(s) => s,
            Err(e) => {
                attempts += 1;
                if attempts == 1 {
                    log::warn!("camera: cannot open source: {e}; retrying");
                } else {
                    log::debug!("camera: reopen attempt {attempts} failed: {e}");
                }
                state_tx.send_replace(CaptureState::Lost {
                    error: e.to_string(),
                    attempts,
                });
                sleep_unless_stopped(delay, stop);
                delay = (delay * 2).min(max_delay);
                continue;
            }
        };
        let name = source.describe();
        if ever_streamed {
            log::info!("camera: {name} is back after {attempts} attempt(s)");
            if let Ok(mut s) = stats.lock() {
                s.reconnects += 1;
            }
        } else {
            log::info!("camera: streaming from {name}");
        }
        ever_streamed = true;
        state_tx.send_replace(CaptureState::Streaming {
            source: name.clone(),
        });
        attempts = 0;
        delay = first_delay;
        let mut meter = RateMeter {
            stamps: VecDeque::new(),
        };
        let failure = loop {
            if stop.load(Ordering::SeqCst) {
                break None;
            }
            match source.next_frame() {
                Ok(mut frame) => {
                    frame.sequence = sequence;
                    sequence += 1;
                    let fps = meter.push(frame.timestamp);
                    if let Ok(mut s) = stats.lock() {
                        s.delivered += 1;
                        s.dropped = dropped_before + source.dropped();
                        s.fps = fps;
                        if last_log.elapsed() >= Duration::from_secs(60) {
                            last_log = Instant::now();
                            log::info!(
                                "camera: {} frames delivered, {} dropped, {:.1} fps",
                                s.delivered,
                                s.dropped,
                                s.fps
                            );
                        }
                    }
                    frame_tx.send_replace(Some(Arc::new(frame)));
                }
                Err(CameraError::EndOfStream { path }) => {
                    log::info!("camera: replay {path} ended");
                    return;
                }
                Err(e) => break Some(e),
            }
        };
        dropped_before += source.dropped();
        // Tear down outside the loop: after an unplug the driver may refuse even STREAMOFF,
        // and a misbehaving teardown must not take the capture thread down with it.
        let teardown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(source)));
        if teardown.is_err() {
            log::warn!("camera: closing {name} failed; continuing");
        }
        let Some(e) = failure else { break };
        log::warn!("camera: lost {name}: {e}; reopening");
        if let Ok(mut s) = stats.lock() {
            s.losses += 1;
            s.fps = 0.0;
        }
        state_tx.send_replace(CaptureState::Lost {
            error: e.to_string(),
            attempts: 0,
        });
        sleep_unless_stopped(delay, stop);
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let end = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Blocks the calling (non-async) thread until a frame newer than the last one this receiver
/// saw arrives, or `timeout` passes. The vision thread uses this; async code awaits
/// `FrameWatch::changed` directly.
pub fn wait_for_frame(rx: &mut FrameWatch, timeout: Duration) -> Option<Arc<Frame>> {
    match block_on_timeout(rx.changed(), timeout) {
        Some(Ok(())) => rx.borrow_and_update().clone(),
        _ => None,
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls a future on this thread, parking between wake-ups: enough for `watch::changed`,
/// which needs no runtime, and keeps the vision thread free of a tokio runtime.
fn block_on_timeout<F: Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::park_timeout(deadline - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::monotonic_now;
    use std::sync::atomic::AtomicU32;

    /// A scripted source: yields `frames` frames then fails with `Disconnected`.
    struct Scripted {
        left: u32,
        period: Duration,
        dropped: u64,
    }

    impl FrameSource for Scripted {
        fn next_frame(&mut self) -> Result<Frame, CameraError> {
            if self.left == 0 {
                return Err(CameraError::Disconnected {
                    device: "scripted".into(),
                    reason: "unplugged".into(),
                });
            }
            self.left -= 1;
            thread::sleep(self.period);
            Frame::new(2, 2, vec![7; 12], monotonic_now(), 999)
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn dropped(&self) -> u64 {
            self.dropped
        }
    }

    #[test]
    fn reconnects_after_loss_and_keeps_sequence() {
        let opens = Arc::new(AtomicU32::new(0));
        let opens2 = Arc::clone(&opens);
        // Open 1 works, opens 2 and 3 fail (device absent), open 4 works again.
        let opener: SourceOpener = Box::new(move || {
            let n = opens2.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 2 || n == 3 {
                return Err(CameraError::Disconnected {
                    device: "scripted".into(),
                    reason: "no such device".into(),
                });
            }
            Ok(Box::new(Scripted {
                left: 5,
                period: Duration::from_millis(5),
                dropped: 1,
            }))
        });
        let cap = spawn_capture(
            opener,
            (Duration::from_millis(10), Duration::from_millis(40)),
        );
        let mut rx = cap.frames();
        let mut seqs = Vec::new();
        while seqs.len() < 8 {
            let f = wait_for_frame(&mut rx, Duration::from_secs(5)).expect("frames resume");
            seqs.push(f.sequence);
        }
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
        let stats = cap.stats();
        assert!(stats.losses >= 1 && stats.reconnects >= 1, "{stats:?}");
        assert!(stats.dropped >= 2, "{stats:?}");
        assert!(opens.load(Ordering::SeqCst) >= 4);
        cap.stop();
    }

    #[test]
    fn consumer_sees_only_the_latest_frame() {
        let opener: SourceOpener = Box::new(|| {
            Ok(Box::new(Scripted {
                left: 1000,
                period: Duration::from_millis(1),
                dropped: 0,
            }))
        });
        let cap = spawn_capture(
            opener,
            (Duration::from_millis(10), Duration::from_millis(10)),
        );
        let mut rx = cap.frames();
        let first = wait_for_frame(&mut rx, Duration::from_secs(5)).unwrap();
        thread::sleep(Duration::from_millis(100));
        let next = wait_for_frame(&mut rx, Duration::from_secs(5)).unwrap();
        // A slow consumer skips frames instead of draining a backlog.
        assert!(
            next.sequence > first.sequence + 5,
            "{} then {}",
            first.sequence,
            next.sequence
        );
        assert!(cap.stats().fps > 10.0, "{:?}", cap.stats());
        drop(cap);
    }

    #[test]
    fn wait_times_out_without_frames() {
        let opener: SourceOpener = Box::new(|| {
            Err(CameraError::Disconnected {
                device: "x".into(),
                reason: "absent".into(),
            })
        });
        let cap = spawn_capture(
            opener,
            (Duration::from_millis(10), Duration::from_millis(20)),
        );
        let mut rx = cap.frames();
        assert!(wait_for_frame(&mut rx, Duration::from_millis(100)).is_none());
        assert!(matches!(cap.state(), CaptureState::Lost { .. }));
        cap.stop();
    }
}
