//! A scripted replay source: clips labelled by the head movement they show, played in answer
//! to the door's liveness challenge — or, as a replay attacker would, in a fixed order.
//!
//! Why: the challenge can only be tested end to end (and shown in the demo) by a camera that
//! sees the asked movement. The folder holds one directory per movement, `neutral/` (a face
//! looking at the camera) and any of `left/`, `right/`, `up/`, `down/` (a face turning from
//! frontal to that side). Each holds either frames (`*.jpg`, `*.png`, one clip) or one
//! directory of frames per clip. A movement clip is played forward and then backward (the
//! turn and the return); `neutral` loops while nothing is asked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::replay::{image_files, load_photo_rgb, Pacer};
use super::{monotonic_now, CameraError, Frame, FrameSource};
use crate::liveness::{Announcement, DoorPrompt, PromptBoard};

const MOVEMENTS: [&str; 5] = ["neutral", "left", "right", "up", "down"];

fn err(path: &Path, message: impl Into<String>) -> CameraError {
    CameraError::Replay {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The clips of one movement: the directory's own frames, or one clip per subdirectory.
fn clips_in(dir: &Path) -> Result<Vec<Vec<PathBuf>>, CameraError> {
    let own = image_files(dir)?;
    if !own.is_empty() {
        return Ok(vec![own]);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    let mut clips = Vec::new();
    for d in subdirs {
        let f = image_files(&d)?;
        if !f.is_empty() {
            clips.push(f);
        }
    }
    Ok(clips)
}

/// How the source chooses what to play.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer each challenge step with a clip of the asked movement.
    Follow(PromptBoard),
    /// Play these movements in order, repeated, whatever is asked.
    Fixed(Vec<String>),
}

/// See the module documentation.
pub struct ScriptedSource {
    root: PathBuf,
    clips: HashMap<&'static str, Vec<Vec<PathBuf>>>,
    /// Next clip index per movement (clips of a movement are used in turn).
    turn: HashMap<&'static str, usize>,
    script: Script,
    fixed_next: usize,
    queue: std::collections::VecDeque<PathBuf>,
    seen: u64,
    cache: HashMap<PathBuf, (u32, u32, Arc<[u8]>)>,
    pacer: Pacer,
    paced: bool,
    sequence: u64,
}

impl ScriptedSource {
    pub fn open(root: &Path, fps: u32, script: Script) -> Result<Self, CameraError> {
        let mut clips = HashMap::new();
        for m in MOVEMENTS {
            let dir = root.join(m);
            if dir.is_dir() {
                let c = clips_in(&dir)?;
                if !c.is_empty() {
                    clips.insert(m, c);
                }
            }
        }
        if !clips.contains_key("neutral") {
            return Err(err(root, "needs a neutral/ directory of frames"));
        }
        if let Script::Fixed(seq) = &script {
            if let Some(m) = seq.iter().find(|m| !clips.contains_key(m.as_str())) {
                return Err(err(root, format!("has no clip for `{m}`")));
            }
        }
        let seen = match &script {
            Script::Follow(board) => board.current().seq,
            Script::Fixed(_) => 0,
        };
        Ok(Self {
            root: root.to_owned(),
            clips,
            turn: HashMap::new(),
            script,
            fixed_next: 0,
            queue: Default::default(),
            seen,
            cache: HashMap::new(),
            pacer: Pacer::new(fps),
            paced: true,
            sequence: 0,
        })
    }

    /// Hands out frames as fast as they are asked for (evaluation runs on its own clock).
    #[must_use]
    pub fn unpaced(mut self) -> Self {
        self.paced = false;
        self
    }

    /// Queues the next clip of `movement`: forward, and for a movement back again.
    fn queue_clip(&mut self, movement: &str) {
        let Some((key, clips)) = self.clips.get_key_value(movement) else {
            return;
        };
        let i = self.turn.entry(key).or_insert(0);
        let clip = &clips[*i % clips.len()];
        *i += 1;
        self.queue.extend(clip.iter().cloned());
        if movement != "neutral" {
            self.queue.extend(clip.iter().rev().skip(1).cloned());
        }
    }

    fn refill(&mut self) {
        match &self.script {
            Script::Follow(board) => {
                let Announcement { seq, prompt } = board.current();
                if seq != self.seen {
                    self.seen = seq;
                    if let DoorPrompt::Challenge { direction, .. } = prompt {
                        // The person reacts to a new prompt at once: drop the rest of what
                        // was playing.
                        self.queue.clear();
                        self.queue_clip(direction.as_str());
                    }
                }
                if self.queue.is_empty() {
                    self.queue_clip("neutral");
                }
            }
            Script::Fixed(seq) => {
                if self.queue.is_empty() {
                    let m = seq[self.fixed_next % seq.len()].clone();
                    self.fixed_next += 1;
                    self.queue_clip(&m);
                }
            }
        }
    }
}

impl FrameSource for ScriptedSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        self.refill();
        let Some(path) = self.queue.pop_front() else {
            return Err(err(&self.root, "no frames to play"));
        };
        if !self.cache.contains_key(&path) {
            let (w, h, data) = load_photo_rgb(&path)?;
            self.cache.insert(path.clone(), (w, h, data.into()));
        }
        let (width, height, data) = self.cache[&path].clone();
        if self.paced {
            self.pacer.wait();
        }
        self.sequence += 1;
        Ok(Frame {
            width,
            height,
            data,
            timestamp: monotonic_now(),
            sequence: self.sequence,
        })
    }

    fn describe(&self) -> String {
        let mut kinds: Vec<&str> = self.clips.keys().copied().collect();
        kinds.sort_unstable();
        format!(
            "scripted clips in {} ({}; {})",
            self.root.display(),
            kinds.join(", "),
            match self.script {
                Script::Follow(_) => "answering the challenge",
                Script::Fixed(_) => "fixed order, ignoring the challenge",
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::Direction;

    fn clip(dir: &Path, shades: &[u8]) {
        std::fs::create_dir_all(dir).unwrap();
        for (i, &s) in shades.iter().enumerate() {
            image::save_buffer(
                dir.join(format!("{i:03}.png")),
                &[s; 4 * 2 * 3],
                4,
                2,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        }
    }

    fn shade(f: &Frame) -> u8 {
        f.data[0]
    }

    #[test]
    fn it_answers_the_asked_movement_then_returns_to_neutral() {
        let root = tempfile::tempdir().unwrap();
        clip(&root.path().join("neutral"), &[1]);
        clip(&root.path().join("left/a"), &[10, 11, 12]);
        clip(&root.path().join("right"), &[20, 21]);
        let board = PromptBoard::new();
        let mut s = ScriptedSource::open(root.path(), 240, Script::Follow(board.clone())).unwrap();
        assert_eq!(shade(&s.next_frame().unwrap()), 1);
        board.announce(DoorPrompt::Challenge {
            step: 1,
            of: 2,
            direction: Direction::Right,
        });
        let got: Vec<u8> = (0..4).map(|_| shade(&s.next_frame().unwrap())).collect();
        assert_eq!(got, vec![20, 21, 20, 1]);
        board.announce(DoorPrompt::Challenge {
            step: 2,
            of: 2,
            direction: Direction::Left,
        });
        let got: Vec<u8> = (0..6).map(|_| shade(&s.next_frame().unwrap())).collect();
        assert_eq!(got, vec![10, 11, 12, 11, 10, 1]);
        assert!(s.describe().contains("answering"));
    }

    #[test]
    fn a_fixed_script_ignores_the_challenge_and_missing_clips_are_named() {
        let root = tempfile::tempdir().unwrap();
        clip(&root.path().join("neutral"), &[1]);
        clip(&root.path().join("left"), &[10, 11]);
        let mut s = ScriptedSource::open(
            root.path(),
            240,
            Script::Fixed(vec!["left".into(), "neutral".into()]),
        )
        .unwrap();
        let got: Vec<u8> = (0..5).map(|_| shade(&s.next_frame().unwrap())).collect();
        assert_eq!(got, vec![10, 11, 10, 1, 10]);
        let e = ScriptedSource::open(root.path(), 15, Script::Fixed(vec!["up".into()]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`up`"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = ScriptedSource::open(empty.path(), 15, Script::Fixed(vec!["neutral".into()]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("neutral/"), "{e}");
    }
}
