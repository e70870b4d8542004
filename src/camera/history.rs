//! The last few frames of a capture, by time: pairs a frame of one camera with the frame of
//! the same moment from another (the near-infrared half of a binocular module).
//!
//! Why not the latest-frame handoff alone: the door loop reaches the infrared frame only after
//! it has detected and analysed the colour frame, tens of milliseconds later, by which time
//! the infrared camera has delivered the next frame; the one of the colour frame's moment would
//! be gone. A follower thread keeps the last few instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{wait_for_frame, Frame, FrameWatch};

/// Frames kept: at 30 fps, a third of a second.
pub const KEEP: usize = 10;

/// The newest [`KEEP`] frames of a capture.
#[derive(Debug, Default)]
pub struct FrameHistory {
    frames: Mutex<VecDeque<Arc<Frame>>>,
}

impl FrameHistory {
    /// Follows `frames` on its own thread until the capture ends or the history is dropped.
    pub fn follow(mut frames: FrameWatch) -> std::io::Result<Arc<Self>> {
        let history = Arc::new(Self::default());
        let weak: Weak<Self> = Arc::downgrade(&history);
        std::thread::Builder::new()
            .name("wardgate-frame-history".into())
            .spawn(move || loop {
                // A closed channel (the capture stopped) answers at once: end here.
                if frames.has_changed().is_err() {
                    return;
                }
                let frame = wait_for_frame(&mut frames, Duration::from_millis(200));
                let Some(history) = weak.upgrade() else {
                    return;
                };
                if let Some(f) = frame {
                    history.push(f);
                }
            })?;
        Ok(history)
    }

    /// Adds a frame (the follower does; tests may too).
    pub fn push(&self, frame: Arc<Frame>) {
        let mut frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if frames.len() == KEEP {
            frames.pop_front();
        }
        frames.push_back(frame);
    }

    /// The kept frame taken nearest to `at` (CLOCK_MONOTONIC), if any.
    pub fn nearest(&self, at: Duration) -> Option<Arc<Frame>> {
        let frames = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        frames
            .iter()
            .min_by_key(|f| f.timestamp.abs_diff(at))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ms: u64) -> Arc<Frame> {
        Arc::new(Frame::new(2, 2, vec![0; 12], Duration::from_millis(ms), ms).unwrap())
    }

    #[test]
    fn the_frame_nearest_in_time_is_found_among_the_last_ones() {
        let h = FrameHistory::default();
        assert!(h.nearest(Duration::from_millis(5)).is_none());
        for ms in (0..200).step_by(10) {
            h.push(frame(ms));
        }
        let at = |ms| h.nearest(Duration::from_millis(ms)).unwrap().sequence;
        assert_eq!(at(153), 150);
        assert_eq!(at(157), 160);
        assert_eq!(at(1000), 190);
        // Only the last KEEP frames are kept.
        assert_eq!(at(0), 100);
    }

    #[test]
    fn the_follower_keeps_what_a_capture_publishes() {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let h = FrameHistory::follow(rx).unwrap();
        tx.send(Some(frame(40))).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while h.nearest(Duration::ZERO).is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(h.nearest(Duration::ZERO).unwrap().sequence, 40);
        drop(tx);
    }
}
