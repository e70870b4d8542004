//! Spoken prompts at the door: what the door display shows, said through a loudspeaker
//! (`[audio]`), for people who do not look at the screen or cannot read it.
//!
//! One WAV file per prompt (`audio.prompts_dir`, made with espeak-ng by
//! `scripts/make-prompts.sh` and installed with the package), played by ALSA's `aplay` on
//! `audio.device`. A new prompt cuts the one still playing: a person who has already turned
//! must not hear a stale instruction. Nothing is recorded, and the words never say who was
//! recognised.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;
use crate::liveness::{Direction, Hint};
use crate::presentation::{Announcement, DoorPrompt};

/// `[audio]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Speak the door's prompts.
    pub enabled: bool,
    /// ALSA PCM to play on (`aplay -L` lists them): `default`, `plughw:CARD=…`, …
    pub device: String,
    /// Folder of the prompt recordings (see [`Cue::file`]).
    pub prompts_dir: PathBuf,
    /// The ALSA player, called as `PLAYER -q -D DEVICE FILE`.
    pub player: PathBuf,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            device: "default".into(),
            prompts_dir: PathBuf::from("/usr/share/wardgate/prompts"),
            player: PathBuf::from("aplay"),
        }
    }
}

impl AudioConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.device.trim().is_empty() || self.device.starts_with('-') {
            return bad("audio.device", "must name an ALSA PCM, e.g. \"default\"");
        }
        if self.enabled && self.prompts_dir.as_os_str().is_empty() {
            return bad(
                "audio.prompts_dir",
                "must name the folder of the prompt files",
            );
        }
        if self.player.as_os_str().is_empty() {
            return bad("audio.player", "must name the ALSA player, e.g. \"aplay\"");
        }
        Ok(())
    }

    /// Prompt files that are missing (`check-config` and start-up say which).
    pub fn missing(&self) -> Vec<PathBuf> {
        Cue::ALL
            .iter()
            .map(|c| self.prompts_dir.join(c.file()))
            .filter(|p| !p.is_file())
            .collect()
    }
}

/// A sentence the door can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Look,
    Turn(Direction),
    /// Guidance while a step is stuck (docs/decisions/0105).
    Hint(Hint),
    Good,
    Welcome,
    Denied,
}

impl Cue {
    pub const ALL: [Cue; 11] = [
        Cue::Look,
        Cue::Turn(Direction::Left),
        Cue::Turn(Direction::Right),
        Cue::Turn(Direction::Up),
        Cue::Turn(Direction::Down),
        Cue::Hint(Hint::Further),
        Cue::Hint(Hint::Closer),
        Cue::Hint(Hint::FaceCamera),
        Cue::Good,
        Cue::Welcome,
        Cue::Denied,
    ];

    /// What the door says for `prompt`; `None` for prompts said in silence (idle).
    pub fn for_prompt(prompt: DoorPrompt) -> Option<Cue> {
        match prompt {
            DoorPrompt::Idle => None,
            DoorPrompt::Looking => Some(Cue::Look),
            DoorPrompt::Challenge { direction, .. } => Some(Cue::Turn(direction)),
            DoorPrompt::Guide { hint, .. } => hint.map(Cue::Hint),
            DoorPrompt::StepPassed { .. } => Some(Cue::Good),
            DoorPrompt::Decided { granted: true, .. } => Some(Cue::Welcome),
            DoorPrompt::Decided { granted: false, .. } => Some(Cue::Denied),
        }
    }

    /// The file of the cue in `audio.prompts_dir`.
    pub fn file(self) -> &'static str {
        match self {
            Cue::Look => "look.wav",
            Cue::Turn(Direction::Left) => "turn-left.wav",
            Cue::Turn(Direction::Right) => "turn-right.wav",
            Cue::Turn(Direction::Up) => "turn-up.wav",
            Cue::Turn(Direction::Down) => "turn-down.wav",
            Cue::Hint(Hint::Further) => "further.wav",
            Cue::Hint(Hint::Closer) => "closer.wav",
            Cue::Hint(Hint::FaceCamera) => "face-camera.wav",
            Cue::Good => "good.wav",
            Cue::Welcome => "welcome.wav",
            Cue::Denied => "denied.wav",
        }
    }

    /// The words (`scripts/make-prompts.sh` speaks the same; the door display shows them).
    pub fn words(self) -> &'static str {
        match self {
            Cue::Look => "Please look at the camera.",
            Cue::Turn(Direction::Left) => "Turn your head to the left.",
            Cue::Turn(Direction::Right) => "Turn your head to the right.",
            Cue::Turn(Direction::Up) => "Look up.",
            Cue::Turn(Direction::Down) => "Look down.",
            Cue::Hint(Hint::Further) => "A little further.",
            Cue::Hint(Hint::Closer) => "Please come closer.",
            Cue::Hint(Hint::FaceCamera) => "Look back at the camera.",
            Cue::Good => "Good.",
            Cue::Welcome => "Welcome.",
            Cue::Denied => "Access denied.",
        }
    }
}

/// Plays prompt files through the ALSA player, one at a time.
pub struct Speaker {
    cfg: AudioConfig,
    playing: Option<Child>,
}

impl Speaker {
    pub fn new(cfg: AudioConfig) -> Self {
        Self { cfg, playing: None }
    }

    /// Says `cue`, cutting whatever is still being said. A player that cannot start is
    /// logged; the door goes on deciding.
    pub fn say(&mut self, cue: Cue) {
        self.stop();
        let file = self.cfg.prompts_dir.join(cue.file());
        match play(&self.cfg.player, &self.cfg.device, &file) {
            Ok(child) => self.playing = Some(child),
            Err(e) => log::warn!(
                "cannot play {} with {}: {e}",
                file.display(),
                self.cfg.player.display()
            ),
        }
    }

    /// Stops the prompt being played, if any, and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.playing.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Waits for the prompt being played to end (tests, and shutdown after a last prompt).
    pub fn wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        match self.playing.take() {
            Some(mut child) => child.wait().map(Some),
            None => Ok(None),
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn play(player: &Path, device: &str, file: &Path) -> std::io::Result<Child> {
    Command::new(player)
        .arg("-q")
        .arg("-D")
        .arg(device)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Speaks the door loop's prompts until the board closes. Runs on a blocking thread: starting
/// and reaping a child process are system calls, not async work.
pub fn speak_prompts(cfg: AudioConfig, mut prompts: tokio::sync::watch::Receiver<Announcement>) {
    let missing = cfg.missing();
    if !missing.is_empty() {
        log::warn!(
            "audio prompts: {} of {} files missing in {} (first: {}); those prompts stay silent",
            missing.len(),
            Cue::ALL.len(),
            cfg.prompts_dir.display(),
            missing[0].display()
        );
    }
    let mut speaker = Speaker::new(cfg);
    let runtime = tokio::runtime::Builder::new_current_thread().build();
    let Ok(runtime) = runtime else {
        log::error!("audio prompts: cannot start their runtime");
        return;
    };
    let mut last_hint = None;
    while runtime.block_on(prompts.changed()).is_ok() {
        let prompt = prompts.borrow_and_update().prompt;
        let cue = Cue::for_prompt(prompt);
        // The arrow's fill changes often while a hint stands: say the hint once.
        if let DoorPrompt::Guide { .. } = prompt {
            if cue.is_none() || cue == last_hint {
                continue;
            }
            last_hint = cue;
        } else {
            last_hint = None;
        }
        if let Some(cue) = cue {
            speaker.say(cue);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_but_idle_has_its_own_file_and_words() {
        let files: std::collections::HashSet<_> = Cue::ALL.iter().map(|c| c.file()).collect();
        assert_eq!(files.len(), Cue::ALL.len());
        assert_eq!(Cue::for_prompt(DoorPrompt::Idle), None);
        assert_eq!(
            Cue::for_prompt(DoorPrompt::Challenge {
                step: 1,
                of: 2,
                direction: Direction::Up
            }),
            Some(Cue::Turn(Direction::Up))
        );
        let guide = |hint| DoorPrompt::Guide {
            step: 1,
            of: 2,
            direction: Direction::Up,
            filled: 2,
            hint,
        };
        assert_eq!(Cue::for_prompt(guide(None)), None, "a fill alone is silent");
        assert_eq!(
            Cue::for_prompt(guide(Some(Hint::Further))),
            Some(Cue::Hint(Hint::Further))
        );
        assert_eq!(
            Cue::for_prompt(DoorPrompt::Decided {
                granted: false,
                reason: crate::access::policy::Reason::SpoofSuspected
            }),
            Some(Cue::Denied)
        );
    }

    #[test]
    fn the_shipped_prompts_are_all_there() {
        let cfg = AudioConfig {
            prompts_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/prompts"),
            ..AudioConfig::default()
        };
        assert_eq!(cfg.missing(), Vec::<PathBuf>::new());
    }

    #[test]
    fn the_prompt_script_says_what_the_door_shows() {
        let script = include_str!("../scripts/make-prompts.sh");
        for cue in Cue::ALL {
            let line = format!("say {} \"{}\"", cue.file(), cue.words());
            assert!(
                script.contains(&line),
                "scripts/make-prompts.sh lacks: {line}"
            );
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        let e = AudioConfig {
            device: "-x".into(),
            ..AudioConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("audio.device"), "{e}");
        let e = AudioConfig {
            player: PathBuf::new(),
            ..AudioConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("audio.player"), "{e}");
    }

    #[test]
    fn a_player_that_cannot_start_does_not_stop_the_speaker() {
        let mut s = Speaker::new(AudioConfig {
            player: PathBuf::from("/nonexistent/aplay"),
            ..AudioConfig::default()
        });
        s.say(Cue::Look);
        assert!(s.wait().unwrap().is_none());
    }
}
