//! `wardgate eval answer-clips`: cuts recordings of people into the answer clips the scripted
//! camera plays (`neutral/`, `left/`, `right/`, `up/`, `down/`), from the face mesh's own yaw
//! and pitch, so that the challenge's bona fide side is measured on many people rather than
//! one scripted clip set — on shared development sequences or on a site's own recordings.
//!
//! Per sequence, every frame goes through the door's analysis (closest face → mesh). The
//! person's *neutral* pose is the median yaw and pitch of the sequence (people mostly look at
//! the camera). Then:
//! * a **neutral clip** is a run of frames within [`NEAR_DEG`] of it;
//! * a **turn clip** starts at the last neutral frame before a movement and ends at the
//!   movement's furthest frame, when that is at least `min_turn` degrees along one direction
//!   and more along it than along any other (a clip that turns as much up as left is no answer
//!   to either); the direction's sign convention is [`Direction::along`], the door's own;
//!   A peak that neither neighbouring frame comes half-way to is the mesh jumping on one frame
//!   (a hand across the face), not a turn, and gives no clip;
//! * the **return** from such a turn back to neutral, played backwards, is a turn clip too
//!   (`-back` in its name): the same head, the same 3-D motion, in reverse time.
//!
//! The clips are copies of the frames, written as
//! `OUT/<person>/<movement>/<set>-<sequence>-<n>[-back]/NNN.jpg`, with `OUT/<person>/clips.csv`
//! saying where each came from and how far it turns, and `OUT/<person>/fps` the frame rate
//! (`eval liveness --scripted OUT` evaluates each person on their own camera time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::liveness::Direction;
use crate::vision::Engine;

/// How close to the neutral pose a frame must be to count as looking at the camera, degrees.
pub const NEAR_DEG: f32 = 4.0;
/// The longest clip, frames: a turn longer than this is a person doing something else.
const MAX_CLIP_FRAMES: usize = 36;
/// The longest neutral clip kept, frames.
const MAX_NEUTRAL_FRAMES: usize = 12;
/// A movement has ended when it falls back by this much from its furthest point, degrees.
const REVERSAL_DEG: f32 = 2.0;

/// One recording to cut.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Who is in it: recordings of the same person go into the same clip set.
    pub person: String,
    /// A short name for the clip names (`set-sequence`).
    pub name: String,
    pub dir: PathBuf,
    pub fps: f32,
}

/// Reads the bona fide sequences of a `MANIFEST.csv` folder (columns `set,sequence,label` and
/// `fps` by header; see ../shared/pad-dev's README) with their person from `people`
/// (`set,sequence,person` with a header; a sequence not listed is its own person).
pub fn recordings(root: &Path, people: Option<&Path>) -> anyhow::Result<Vec<Recording>> {
    let file = root.join("MANIFEST.csv");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut rows = csv_rows(&text);
    let header = rows.next().context("MANIFEST.csv is empty")?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no `{name}` column", file.display()))
    };
    let (c_set, c_seq, c_label, c_fps) =
        (col("set")?, col("sequence")?, col("label")?, col("fps")?);
    let mut who = BTreeMap::new();
    if let Some(p) = people {
        let t = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        for r in csv_rows(&t).skip(1) {
            if let [set, seq, person, ..] = r.as_slice() {
                who.insert(format!("{set}/{seq}"), person.clone());
            }
        }
    }
    let mut out = Vec::new();
    for r in rows {
        let get = |c: usize| r.get(c).map(String::as_str).unwrap_or_default();
        if get(c_label) != "bona_fide" {
            continue;
        }
        let (set, seq) = (get(c_set), get(c_seq));
        let dir = root.join(set).join(seq);
        if !dir.is_dir() {
            continue;
        }
        // "~3-5" and the like: the first number.
        let fps: f32 = get(c_fps)
            .trim_start_matches('~')
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(12.0);
        let key = format!("{set}/{seq}");
        out.push(Recording {
            person: who
                .get(&key)
                .cloned()
                .unwrap_or_else(|| key.replace('/', "-")),
            name: format!("{set}-{seq}"),
            dir,
            fps,
        });
    }
    Ok(out)
}

/// Splits CSV text into rows of fields (double quotes around a field, `""` inside one).
pub(crate) fn csv_rows(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    text.lines().filter(|l| !l.trim().is_empty()).map(|line| {
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        fields
    })
}

/// The pose of one frame (`None`: no face analysed).
pub type Pose = Option<(f32, f32)>;

/// A clip found in a sequence's poses.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub movement: Option<Direction>,
    /// Frame indices in playing order (descending for a return).
    pub frames: Vec<usize>,
    /// How far it turns along `movement`, degrees (0 for neutral).
    pub turn_deg: f32,
    pub back: bool,
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// A person's neutral pose: the median yaw and pitch of all their analysed frames (over all
/// their recordings, from one camera: a sequence that turns away all the time has no frame
/// near it and gives no clip).
pub fn neutral(poses: &[Pose]) -> Option<(f32, f32)> {
    let present: Vec<(f32, f32)> = poses.iter().flatten().copied().collect();
    Some((
        median(present.iter().map(|p| p.0).collect())?,
        median(present.iter().map(|p| p.1).collect())?,
    ))
}

/// Finds the neutral and turn clips in one sequence's poses around the person's `neutral`
/// pose (see the module's documentation).
pub fn cut(poses: &[Pose], neutral: (f32, f32), min_turn: f32) -> Vec<Cut> {
    let (y0, p0) = neutral;
    let near = |i: usize| {
        poses[i].is_some_and(|(y, p)| (y - y0).abs() <= NEAR_DEG && (p - p0).abs() <= NEAR_DEG)
    };
    let mut out = Vec::new();
    // Neutral runs.
    let mut i = 0;
    while i < poses.len() {
        if !near(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < poses.len() && near(i) {
            i += 1;
        }
        let frames: Vec<usize> = (start..i).take(MAX_NEUTRAL_FRAMES).collect();
        out.push(Cut {
            movement: None,
            frames,
            turn_deg: 0.0,
            back: false,
        });
    }
    // Turns, forward in time and (returns) backward.
    let order: Vec<usize> = (0..poses.len()).collect();
    for back in [false, true] {
        let seq: Vec<usize> = if back {
            order.iter().rev().copied().collect()
        } else {
            order.clone()
        };
        let mut found: BTreeMap<(usize, u8), Cut> = BTreeMap::new();
        for (a, &i) in seq.iter().enumerate() {
            if !near(i) {
                continue;
            }
            let Some(base) = poses[i] else { continue };
            for (dk, d) in Direction::ALL.into_iter().enumerate() {
                let mut best = (0.0f32, a);
                for (b, &j) in seq.iter().enumerate().skip(a + 1).take(MAX_CLIP_FRAMES) {
                    let Some(p) = poses[j] else { break };
                    let along = d.along(p.0 - base.0, p.1 - base.1);
                    if along > best.0 {
                        best = (along, b);
                    } else if along < best.0 - REVERSAL_DEG {
                        break;
                    }
                }
                let (turn, peak_at) = best;
                if turn < min_turn {
                    continue;
                }
                let peak = poses[seq[peak_at]].unwrap_or(base);
                let off = Direction::ALL
                    .into_iter()
                    .filter(|&o| o != d)
                    .map(|o| o.along(peak.0 - base.0, peak.1 - base.1))
                    .fold(f32::MIN, f32::max);
                if off >= turn {
                    continue;
                }
                // A peak with neither neighbour half-way there is the mesh jumping on one
                // frame (a hand across the face), not a head turning.
                let along_at = |k: usize| {
                    seq.get(k)
                        .and_then(|&j| poses[j])
                        .map_or(f32::MIN, |p| d.along(p.0 - base.0, p.1 - base.1))
                };
                if along_at(peak_at - 1).max(along_at(peak_at + 1)) < 0.5 * turn {
                    continue;
                }
                // The latest neutral start of a movement to this peak: the turn as it began.
                #[allow(clippy::cast_possible_truncation)]
                let key = (seq[peak_at], dk as u8);
                found.insert(
                    key,
                    Cut {
                        movement: Some(d),
                        frames: seq[a..=peak_at].to_vec(),
                        turn_deg: turn,
                        back,
                    },
                );
            }
        }
        out.extend(found.into_values());
    }
    out
}

/// Cuts `recordings` into clip sets under `out`; returns the printable summary.
pub fn write(
    engine: &Engine,
    recordings: &[Recording],
    out: &Path,
    min_turn: f32,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut summary = String::new();
    let mut by_person: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut analysed: Vec<(Vec<PathBuf>, Vec<Pose>)> = Vec::with_capacity(recordings.len());
    for (k, rec) in recordings.iter().enumerate() {
        eprintln!(
            "eval answer-clips: {}/{} {}",
            k + 1,
            recordings.len(),
            rec.dir.display()
        );
        let files = crate::camera::image_files(&rec.dir)?;
        let mut poses = Vec::with_capacity(files.len());
        for f in &files {
            let (w, h, data) = crate::camera::load_photo_rgb(f)?;
            let img = image::RgbImage::from_raw(w, h, data).context("bad frame")?;
            poses.push(
                super::liveness::analyse(engine, &img)?.map(|(p, _)| (p.yaw_deg, p.pitch_deg)),
            );
        }
        analysed.push((files, poses));
    }
    let mut neutrals: BTreeMap<&str, Vec<Pose>> = BTreeMap::new();
    for (rec, (_, poses)) in recordings.iter().zip(&analysed) {
        neutrals.entry(&rec.person).or_default().extend(poses);
    }
    let neutrals: BTreeMap<&str, (f32, f32)> = neutrals
        .into_iter()
        .filter_map(|(p, poses)| Some((p, neutral(&poses)?)))
        .collect();
    for (rec, (files, poses)) in recordings.iter().zip(&analysed) {
        let Some(&centre) = neutrals.get(rec.person.as_str()) else {
            continue;
        };
        let cuts = cut(poses, centre, min_turn);
        let dir = out.join(&rec.person);
        let mut n = 0usize;
        let lines = by_person.entry(&rec.person).or_default();
        for c in &cuts {
            let movement = c.movement.map_or("neutral", Direction::as_str);
            n += 1;
            let clip = format!("{}-{n:02}{}", rec.name, if c.back { "-back" } else { "" });
            let target = dir.join(movement).join(&clip);
            std::fs::create_dir_all(&target)?;
            for (i, &f) in c.frames.iter().enumerate() {
                let src = &files[f];
                let ext = src.extension().and_then(|e| e.to_str()).unwrap_or("jpg");
                std::fs::copy(src, target.join(format!("{i:03}.{ext}")))
                    .with_context(|| format!("copying {}", src.display()))?;
            }
            lines.push(format!(
                "{movement},{clip},{},{:.1},{},{}",
                rec.dir.display(),
                c.turn_deg,
                c.frames.first().copied().unwrap_or(0),
                c.frames.last().copied().unwrap_or(0)
            ));
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("fps"), format!("{}\n", rec.fps))?;
        let count = |m: Option<Direction>| cuts.iter().filter(|c| c.movement == m).count();
        let _ = writeln!(
            summary,
            "{:<40} {:>3} frames, {:>3} analysed: neutral {}, left {}, right {}, up {}, down {}  → {}",
            rec.name,
            files.len(),
            poses.iter().flatten().count(),
            count(None),
            count(Some(Direction::Left)),
            count(Some(Direction::Right)),
            count(Some(Direction::Up)),
            count(Some(Direction::Down)),
            rec.person
        );
    }
    for (person, lines) in by_person {
        let mut csv = String::from("movement,clip,source,turn_deg,first_frame,last_frame\n");
        for l in lines {
            csv.push_str(&l);
            csv.push('\n');
        }
        std::fs::write(out.join(person).join("clips.csv"), csv)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poses(yaws: &[f32]) -> Vec<Pose> {
        yaws.iter().map(|&y| Some((y, 0.0))).collect()
    }

    #[test]
    fn a_turn_and_its_return_are_cut_from_the_last_neutral_frame_to_the_peak() {
        // Still, a turn to the person's left (yaw grows) of 14°, back, still.
        let p = poses(&[0.0, 0.5, 0.0, 3.0, 8.0, 14.0, 13.5, 7.0, 2.0, 0.0, 0.5]);
        let cuts = cut(&p, neutral(&p).unwrap(), 8.0);
        let turns: Vec<&Cut> = cuts.iter().filter(|c| c.movement.is_some()).collect();
        assert_eq!(turns.len(), 2, "{cuts:?}");
        let out = turns.iter().find(|c| !c.back).unwrap();
        assert_eq!(out.movement, Some(Direction::Left));
        assert_eq!(
            out.frames,
            vec![3, 4, 5],
            "from the last frame within 4° of neutral"
        );
        assert!((out.turn_deg - 11.0).abs() < 1e-3);
        let back = turns.iter().find(|c| c.back).unwrap();
        assert_eq!(back.movement, Some(Direction::Left));
        assert_eq!(
            back.frames,
            vec![8, 7, 6, 5],
            "the return, played backwards"
        );
        let neutral: Vec<&Cut> = cuts.iter().filter(|c| c.movement.is_none()).collect();
        assert_eq!(neutral[0].frames, vec![0, 1, 2, 3]);
    }

    #[test]
    fn small_turns_diagonal_turns_and_gaps_give_no_clip() {
        let c = |p: &[Pose]| cut(p, neutral(p).unwrap(), 8.0);
        assert!(c(&poses(&[0.0, 2.0, 5.0, 6.0, 2.0, 0.0]))
            .iter()
            .all(|c| c.movement.is_none()));
        // As much down as left: an answer to neither.
        let diag: Vec<Pose> = [0.0f32, 0.0, 0.0, 0.0, 10.0, 14.0]
            .iter()
            .map(|&v| Some((v, v)))
            .collect();
        assert!(c(&diag).iter().all(|c| c.movement.is_none()));
        // The face is lost mid-turn: the clip ends there.
        let gap = vec![Some((0.0, 0.0)), Some((4.0, 0.0)), None, Some((15.0, 0.0))];
        assert!(c(&gap).iter().all(|c| c.movement.is_none()));
    }

    #[test]
    fn a_one_frame_jump_of_the_mesh_is_no_turn() {
        let p = poses(&[0.0, 0.0, 0.0, 12.0, 0.0, 0.0]);
        assert!(cut(&p, (0.0, 0.0), 8.0)
            .iter()
            .all(|c| c.movement.is_none()));
    }

    #[test]
    fn up_and_down_follow_the_doors_pitch_convention() {
        let p: Vec<Pose> = [0.0f32, 0.0, 0.0, -5.0, -10.0, -5.0, 0.0, 0.0]
            .iter()
            .map(|&v| Some((0.0, v)))
            .collect();
        let turns: Vec<Direction> = cut(&p, neutral(&p).unwrap(), 8.0)
            .iter()
            .filter_map(|c| c.movement)
            .collect();
        assert_eq!(turns, vec![Direction::Up, Direction::Up]);
    }

    #[test]
    fn manifest_rows_give_bona_fide_recordings_with_their_people() {
        let dir = tempfile::tempdir().unwrap();
        for s in ["a/one", "a/two", "b/att"] {
            std::fs::create_dir_all(dir.path().join(s)).unwrap();
        }
        std::fs::write(
            dir.path().join("MANIFEST.csv"),
            "set,sequence,label,source,fps\na,one,bona_fide,\"x, y\",12\na,two,bona_fide,z,~3-5\nb,att,print,z,12\n",
        )
        .unwrap();
        let people = dir.path().join("people.csv");
        std::fs::write(&people, "set,sequence,person\na,one,ann\n").unwrap();
        let r = recordings(dir.path(), Some(&people)).unwrap();
        assert_eq!(r.len(), 2, "the print is not a bona fide recording");
        assert_eq!((r[0].person.as_str(), r[0].fps), ("ann", 12.0));
        assert_eq!((r[1].person.as_str(), r[1].fps), ("a-two", 3.0));
    }
}
