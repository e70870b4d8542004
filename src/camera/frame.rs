//! The frame every source hands out: plain RGB8, so vision code never sees camera formats.

use std::sync::Arc;
use std::time::Duration;

use super::CameraError;

/// One RGB8 image (row-major, 3 bytes per pixel, no padding) with its capture time.
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes. `Arc` so the handoff and any consumer share one copy.
    pub data: Arc<[u8]>,
    /// Capture time on CLOCK_MONOTONIC — the clock V4L2 drivers stamp buffers with, so camera
    /// and replay frames compare directly and wall-clock jumps (NTP) cannot reorder them.
    pub timestamp: Duration,
    /// Increases by one per delivered frame of a capture, across reconnects.
    pub sequence: u64,
}

impl Frame {
    /// Wraps an RGB8 buffer, checking its length.
    pub fn new(
        width: u32,
        height: u32,
        data: Vec<u8>,
        timestamp: Duration,
        sequence: u64,
    ) -> Result<Self, CameraError> {
        let want = rgb_len(width, height);
        if data.len() != want {
            return Err(CameraError::Convert {
                format: "RGB8".into(),
                message: format!(
                    "{width}x{height} needs {want} bytes, buffer has {}",
                    data.len()
                ),
            });
        }
        Ok(Self {
            width,
            height,
            data: data.into(),
            timestamp,
            sequence,
        })
    }

    /// The pixel at (x, y) as `[r, g, b]`; `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }
}

/// Reuses RGB buffers once every consumer has dropped the frame that carried them.
///
/// Why: a fresh 1 MB allocation per frame is an `mmap` plus a page fault per 4 KiB page, which
/// on a small board (and under QEMU) costs more than the colour conversion itself. The pool
/// keeps a clone of each buffer it hands out; a buffer whose only owner is the pool is free.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    bufs: Vec<Arc<[u8]>>,
}

impl BufferPool {
    /// Most buffers kept: the handoff slot, a consumer or two, the one being filled.
    const KEEP: usize = 4;

    /// A buffer of `len` bytes that nobody else holds, and so can be written.
    pub(crate) fn take(&mut self, len: usize) -> Arc<[u8]> {
        self.bufs.retain(|b| b.len() == len);
        match self.bufs.iter_mut().position(|b| Arc::get_mut(b).is_some()) {
            Some(i) => self.bufs.swap_remove(i),
            None => Arc::from(vec![0u8; len]),
        }
    }

    /// Remembers a buffer just handed out in a frame, for reuse once the frame is dropped.
    pub(crate) fn keep(&mut self, buf: &Arc<[u8]>) {
        if self.bufs.len() >= Self::KEEP {
            self.bufs.remove(0);
        }
        self.bufs.push(Arc::clone(buf));
    }
}

/// Bytes of a tightly packed RGB8 image.
pub(crate) fn rgb_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * 3
}

/// Now on CLOCK_MONOTONIC (see [`Frame::timestamp`]).
pub fn monotonic_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_buffer_length() {
        let err = Frame::new(4, 2, vec![0; 23], Duration::ZERO, 0).unwrap_err();
        assert!(err.to_string().contains("4x2 needs 24 bytes"), "{err}");
        let f = Frame::new(4, 2, (0..24).collect(), Duration::ZERO, 0).unwrap();
        assert_eq!(f.pixel(1, 1), Some([15, 16, 17]));
        assert_eq!(f.pixel(4, 0), None);
    }

    #[test]
    fn pool_reuses_only_released_buffers() {
        let mut pool = BufferPool::default();
        let mut a = pool.take(12);
        Arc::get_mut(&mut a).unwrap()[0] = 7;
        pool.keep(&a);
        // `a` is still held (by a consumer): the pool must not hand it out again.
        let b = pool.take(12);
        assert!(!Arc::ptr_eq(&a, &b));
        let a_ptr = Arc::as_ptr(&a);
        drop(a);
        let mut c = pool.take(12);
        assert_eq!(Arc::as_ptr(&c), a_ptr, "released buffer is reused");
        assert!(Arc::get_mut(&mut c).is_some());
        // A size change drops the old buffers.
        pool.keep(&c);
        drop(c);
        assert_eq!(pool.take(24).len(), 24);
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_now() > a);
    }
}
