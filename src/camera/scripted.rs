//! A scripted replay source: clips labelled by the head movement they show, played in answer
//! to the door's liveness challenge — or, as a replay attacker would, in a fixed order.
//!
//! Why: the challenge can only be tested end to end (and shown in the demo) by a camera that
//! sees the asked movement. The folder holds one directory per movement, `neutral/` (a face
//! looking at the camera) and any of `left/`, `right/`, `up/`, `down/` (a face turning from
//! frontal to that side). Each holds either frames (`*.jpg`, `*.png`, one clip) or one
//! directory of frames per clip. A movement clip is played forward and then backward (the
//! turn and the return); `neutral` loops while nothing is asked.
//!
//! A folder without `neutral/` whose subfolders each hold such a set is a queue of people at
//! the door: answering the challenge, each stays until the door decides, then walks away (an
//! empty scene for a moment) and the next one steps up, in name order, round and round. The
//! demo uses it to show a live person and a print of the same person in turn.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::replay::{image_files, load_photo_rgb, Pacer};
use super::{monotonic_now, CameraError, Frame, FrameSource};
use crate::presentation::{Announcement, DoorPrompt, PromptBoard};

const MOVEMENTS: [&str; 5] = ["neutral", "left", "right", "up", "down"];

fn err(path: &Path, message: impl Into<String>) -> CameraError {
    CameraError::Replay {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The subdirectories of `dir`, in name order.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CameraError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    Ok(out)
}

/// The clips of one movement: the directory's own frames, or one clip per subdirectory.
fn clips_in(dir: &Path) -> Result<Vec<Vec<PathBuf>>, CameraError> {
    let own = image_files(dir)?;
    if !own.is_empty() {
        return Ok(vec![own]);
    }
    let mut clips = Vec::new();
    for d in subdirs(dir)? {
        let f = image_files(&d)?;
        if !f.is_empty() {
            clips.push(f);
        }
    }
    Ok(clips)
}

/// One person's clips, by movement.
struct Presenter {
    root: PathBuf,
    clips: HashMap<&'static str, Vec<Vec<PathBuf>>>,
}

impl Presenter {
    fn open(root: &Path) -> Result<Option<Self>, CameraError> {
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
        Ok(clips.contains_key("neutral").then(|| Self {
            root: root.to_owned(),
            clips,
        }))
    }
}

/// The people of `root`: itself, or each subfolder with a `neutral/` set.
fn presenters(root: &Path) -> Result<Vec<Presenter>, CameraError> {
    if let Some(p) = Presenter::open(root)? {
        return Ok(vec![p]);
    }
    let mut out = Vec::new();
    for d in subdirs(root)? {
        if let Some(p) = Presenter::open(&d)? {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(err(
            root,
            "needs a neutral/ directory of frames (or one folder per person, each with neutral/)",
        ));
    }
    Ok(out)
}

/// One frame to play: a clip frame, or the empty scene between two people.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Frame(PathBuf),
    Empty,
}

/// How long the scene stays empty between two people: longer than a track's grace
/// (`pipeline.track_grace_ms`, 500 ms by default), so the next person is a new track.
const EMPTY_SCENE: std::time::Duration = std::time::Duration::from_millis(1500);

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
    people: Vec<Presenter>,
    /// The person in front of the camera now.
    current: usize,
    fps: u32,
    /// Next clip index per movement (clips of a movement are used in turn).
    turn: HashMap<&'static str, usize>,
    script: Script,
    fixed_next: usize,
    queue: std::collections::VecDeque<Item>,
    seen: u64,
    cache: HashMap<PathBuf, (u32, u32, Arc<[u8]>)>,
    /// The last frame's size and an empty scene of that size.
    empty: Option<(u32, u32, Arc<[u8]>)>,
    pacer: Pacer,
    paced: bool,
    sequence: u64,
}

impl ScriptedSource {
    pub fn open(root: &Path, fps: u32, script: Script) -> Result<Self, CameraError> {
        let people = presenters(root)?;
        if let Script::Fixed(seq) = &script {
            for p in &people {
                if let Some(m) = seq.iter().find(|m| !p.clips.contains_key(m.as_str())) {
                    return Err(err(&p.root, format!("has no clip for `{m}`")));
                }
            }
        }
        let seen = match &script {
            Script::Follow(board) => board.current().seq,
            Script::Fixed(_) => 0,
        };
        Ok(Self {
            root: root.to_owned(),
            people,
            current: 0,
            fps,
            turn: HashMap::new(),
            script,
            fixed_next: 0,
            queue: Default::default(),
            seen,
            cache: HashMap::new(),
            empty: None,
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
        let clips = &self.people[self.current].clips;
        let Some((key, clips)) = clips.get_key_value(movement) else {
            return;
        };
        let i = self.turn.entry(key).or_insert(0);
        let clip = &clips[*i % clips.len()];
        *i += 1;
        self.queue.extend(clip.iter().cloned().map(Item::Frame));
        if movement != "neutral" {
            self.queue
                .extend(clip.iter().rev().skip(1).cloned().map(Item::Frame));
        }
    }

    /// The door has decided: this person walks away and the next one steps up.
    fn next_person(&mut self) {
        self.queue.clear();
        let frames = (EMPTY_SCENE.as_secs_f64() * f64::from(self.fps)).ceil() as usize;
        self.queue
            .extend(std::iter::repeat_n(Item::Empty, frames.max(1)));
        self.current = (self.current + 1) % self.people.len();
        self.turn.clear();
    }

    fn refill(&mut self) {
        match &self.script {
            Script::Follow(board) => {
                let Announcement { seq, prompt } = board.current();
                if seq != self.seen {
                    self.seen = seq;
                    match prompt {
                        DoorPrompt::Challenge { direction, .. } => {
                            // The person reacts to a new prompt at once: drop the rest of what
                            // was playing.
                            self.queue.clear();
                            self.queue_clip(direction.as_str());
                        }
                        DoorPrompt::Decided { .. } if self.people.len() > 1 => self.next_person(),
                        _ => {}
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
        let (width, height, data) = match self.queue.pop_front() {
            None => return Err(err(&self.root, "no frames to play")),
            Some(Item::Frame(path)) => {
                if !self.cache.contains_key(&path) {
                    let (w, h, data) = load_photo_rgb(&path)?;
                    self.cache.insert(path.clone(), (w, h, data.into()));
                }
                let f = self.cache[&path].clone();
                if self.empty.as_ref().is_none_or(|e| (e.0, e.1) != (f.0, f.1)) {
                    let grey = vec![118u8; super::frame::rgb_len(f.0, f.1)];
                    self.empty = Some((f.0, f.1, grey.into()));
                }
                f
            }
            Some(Item::Empty) => match &self.empty {
                Some(e) => e.clone(),
                None => return Err(err(&self.root, "an empty scene before any frame")),
            },
        };
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
        let mut kinds: Vec<&str> = self.people[self.current].clips.keys().copied().collect();
        kinds.sort_unstable();
        let people = match self.people.len() {
            1 => String::new(),
            n => format!("{n} people in turn; "),
        };
        format!(
            "scripted clips in {} ({people}{}; {})",
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
    fn people_take_turns_after_each_decision_with_an_empty_scene_between() {
        let root = tempfile::tempdir().unwrap();
        clip(&root.path().join("1-live/neutral"), &[1]);
        clip(&root.path().join("1-live/left"), &[10, 11]);
        clip(&root.path().join("2-print/neutral"), &[2]);
        let board = PromptBoard::new();
        let mut s = ScriptedSource::open(root.path(), 2, Script::Follow(board.clone()))
            .unwrap()
            .unpaced();
        assert!(
            s.describe().contains("2 people in turn"),
            "{}",
            s.describe()
        );
        assert_eq!(shade(&s.next_frame().unwrap()), 1);
        board.announce(DoorPrompt::Challenge {
            step: 1,
            of: 1,
            direction: Direction::Left,
        });
        assert_eq!(shade(&s.next_frame().unwrap()), 10);
        board.announce(DoorPrompt::Decided {
            granted: true,
            reason: crate::access::policy::Reason::Granted,
        });
        // 1.5 s of empty scene at 2 fps, then the next person; then the first again.
        let got: Vec<u8> = (0..5).map(|_| shade(&s.next_frame().unwrap())).collect();
        assert_eq!(got, vec![118, 118, 118, 2, 2]);
        board.announce(DoorPrompt::Decided {
            granted: false,
            reason: crate::access::policy::Reason::LivenessFailed,
        });
        let got: Vec<u8> = (0..4).map(|_| shade(&s.next_frame().unwrap())).collect();
        assert_eq!(got, vec![118, 118, 118, 1]);
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
