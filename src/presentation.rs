//! What the person at the door is told: the door display's state (challenge arrows, the
//! result) that the door display page, the spoken prompts, the indicators and the scripted
//! camera follow.
//!
//! Why its own module: the display is written by several parts of the core — the liveness
//! challenge asks for head movements, the decision shows its result, and the credential
//! readers will ask for a PIN — and read by several edges (`/ws/presentation`, audio, the door's
//! LEDs). Owned by none of the writers, it is one board every writer announces on.

use serde::Serialize;

use crate::access::policy::Reason;
use crate::liveness::{Direction, Hint, Prompt};

/// What the door's display shows now (and what a scripted camera answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DoorPrompt {
    /// Nobody in front of the door.
    #[default]
    Idle,
    /// A face is in view and being recognised: "look at the camera".
    Looking,
    /// Step `step` of `of`: turn the head in `direction`.
    Challenge {
        step: u32,
        of: u32,
        direction: Direction,
    },
    /// Step `step` was verified.
    StepPassed { step: u32 },
    /// Step `step` still runs: the arrow filled to `filled` quarters, and a hint when the step
    /// is stuck on something the person can fix ("a little further", "come closer").
    Guide {
        step: u32,
        of: u32,
        direction: Direction,
        filled: u8,
        hint: Option<Hint>,
    },
    /// The presentation was decided.
    Decided { granted: bool, reason: Reason },
}

/// The door's current prompt, with a counter so that a reader sees every change (the same
/// challenge twice in a row is two prompts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Announcement {
    pub seq: u64,
    #[serde(flatten)]
    pub prompt: DoorPrompt,
}

/// The door loop publishes prompts here; the door display and the scripted camera read them.
#[derive(Debug, Clone)]
pub struct PromptBoard {
    tx: tokio::sync::watch::Sender<Announcement>,
}

impl Default for PromptBoard {
    fn default() -> Self {
        Self::new()
    }
}

impl PromptBoard {
    pub fn new() -> Self {
        Self {
            tx: tokio::sync::watch::Sender::new(Announcement::default()),
        }
    }

    pub fn announce(&self, prompt: DoorPrompt) {
        self.tx.send_modify(|a| {
            a.seq += 1;
            a.prompt = prompt;
        });
    }

    /// Someone came into view (`true`: `idle` → `looking`) or everyone left (`false`: back to
    /// `idle`, also from a challenge the person walked away from). A challenge or a decision
    /// being shown is not replaced by `looking`, and nothing is announced when the state
    /// stays the same, so a reader is woken only by changes.
    pub fn presence(&self, someone: bool) {
        self.tx.send_if_modified(|a| {
            let next = match (someone, a.prompt) {
                (true, DoorPrompt::Idle) => DoorPrompt::Looking,
                (false, DoorPrompt::Idle) | (true, _) => return false,
                (false, _) => DoorPrompt::Idle,
            };
            a.seq += 1;
            a.prompt = next;
            true
        });
    }

    pub fn current(&self) -> Announcement {
        *self.tx.borrow()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Announcement> {
        self.tx.subscribe()
    }
}

impl From<Prompt> for DoorPrompt {
    fn from(p: Prompt) -> Self {
        match p {
            Prompt::Challenge {
                step,
                of,
                direction,
            } => DoorPrompt::Challenge {
                step,
                of,
                direction,
            },
            Prompt::StepPassed { step } => DoorPrompt::StepPassed { step },
            Prompt::Guide {
                step,
                of,
                direction,
                filled,
                hint,
            } => DoorPrompt::Guide {
                step,
                of,
                direction,
                filled,
                hint,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_moves_between_idle_and_looking_without_hiding_a_challenge() {
        let board = PromptBoard::new();
        let mut rx = board.subscribe();
        board.presence(false);
        assert!(!rx.has_changed().unwrap(), "idle stays idle silently");
        board.presence(true);
        assert_eq!(board.current().prompt, DoorPrompt::Looking);
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        board.presence(true);
        assert!(!rx.has_changed().unwrap(), "still looking: no wake-up");
        let challenge = DoorPrompt::Challenge {
            step: 1,
            of: 2,
            direction: Direction::Left,
        };
        board.announce(challenge);
        board.presence(true);
        assert_eq!(
            board.current().prompt,
            challenge,
            "a face in view keeps the arrow"
        );
        board.presence(false);
        assert_eq!(board.current().prompt, DoorPrompt::Idle, "walked away");
        let seq = board.current().seq;
        board.announce(DoorPrompt::Decided {
            granted: true,
            reason: Reason::Granted,
        });
        board.presence(true);
        assert!(matches!(board.current().prompt, DoorPrompt::Decided { .. }));
        assert_eq!(board.current().seq, seq + 1);
    }
}
