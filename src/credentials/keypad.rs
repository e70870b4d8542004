//! Keys into entries: what a badge reader "types" (its digits, then Enter) and what a person
//! types on a PIN keypad, whether the keys come from a Linux input device (evdev key codes) or
//! from a Wiegand keypad (one key per frame).
//!
//! Why one framing for both: a USB badge reader is a keyboard that types the card number; a
//! keypad is a keyboard a person types a PIN on. Both need the same rules — digits only, an
//! end (Enter, or a fixed length), a clear key, a limit on the time between keys so a half
//! typed PIN left at the door does not prefix the next person's — and both must never show
//! what was typed in a log. [`Digits`] therefore prints as its length only.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// One key of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Digit(u8),
    /// Enter / `#`: the entry is complete.
    Enter,
    /// Escape / `*` / Backspace: start again.
    Clear,
}

impl Key {
    /// The key of a Linux input event code (`linux/input-event-codes.h`): the digit row, the
    /// keypad digits, Enter and keypad Enter, Escape, Backspace and keypad `*`; `None` for any
    /// other key (ignored: a reader's Shift, say).
    pub fn from_evdev(code: u16) -> Option<Self> {
        Some(match code {
            2..=10 => Key::Digit(u8::try_from(code - 1).ok()?), // KEY_1 … KEY_9
            11 => Key::Digit(0),                                // KEY_0
            79..=81 => Key::Digit(u8::try_from(code - 78).ok()?), // KEY_KP1 … KEY_KP3
            75..=77 => Key::Digit(u8::try_from(code - 71).ok()?), // KEY_KP4 … KEY_KP6
            71..=73 => Key::Digit(u8::try_from(code - 64).ok()?), // KEY_KP7 … KEY_KP9
            82 => Key::Digit(0),                                // KEY_KP0
            28 | 96 => Key::Enter,                              // KEY_ENTER, KEY_KPENTER
            1 | 14 | 55 => Key::Clear, // KEY_ESC, KEY_BACKSPACE, KEY_KPASTERISK
            _ => return None,
        })
    }

    /// The key of a Wiegand keypad code (0–9, 10 = `*`, 11 = `#`).
    pub fn from_wiegand(code: u8) -> Option<Self> {
        match code {
            0..=9 => Some(Key::Digit(code)),
            10 => Some(Key::Clear),
            11 => Some(Key::Enter),
            _ => None,
        }
    }
}

/// The digits of a complete entry. Its `Debug` and `Display` show the length only: a PIN or a
/// badge number never reaches a log through it.
#[derive(Clone, PartialEq, Eq)]
pub struct Digits(String);

impl Digits {
    /// `s` if it is 1 to 32 ASCII digits (a PIN or badge number given over the API or the
    /// CLI rather than typed at a reader).
    pub fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(s.to_owned()))
    }

    /// The digits, for the comparison or the hash check that needs them.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digits({} digits)", self.0.len())
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} digits", self.0.len())
    }
}

/// How a reader's entries are framed (`[[door.readers]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Framing {
    /// Fewest digits of a complete entry.
    pub min_digits: usize,
    /// Most digits; a longer entry is refused when it ends.
    pub max_digits: usize,
    /// `Some(n)`: an entry is complete after n digits without Enter (readers that send no
    /// terminator, keypads set to fixed-length PINs).
    pub fixed_length: Option<usize>,
    /// Longest pause between two keys, in milliseconds; after it the digits so far are
    /// dropped.
    pub key_timeout_ms: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Self {
            min_digits: 4,
            max_digits: 8,
            fixed_length: None,
            key_timeout_ms: 5_000,
        }
    }
}

impl Framing {
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_digits == 0 || self.min_digits > self.max_digits {
            return Err("min_digits must be between 1 and max_digits");
        }
        if self.max_digits > 32 {
            return Err("max_digits must be at most 32");
        }
        if let Some(n) = self.fixed_length {
            if n < self.min_digits || n > self.max_digits {
                return Err("fixed_length must be between min_digits and max_digits");
            }
        }
        if self.key_timeout_ms == 0 || self.key_timeout_ms > 60_000 {
            return Err("key_timeout_ms must be between 1 and 60000");
        }
        Ok(())
    }
}

/// Why an entry ended without digits to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryError {
    /// Enter after fewer than `min_digits`.
    TooShort,
    /// More than `max_digits` before Enter.
    TooLong,
    /// The pause between two keys exceeded `key_timeout_ms`.
    Timeout,
}

/// What a key (or the passing of time) did to the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The entry goes on; this many digits so far (what the display shows as dots).
    Typing(usize),
    /// The entry is complete.
    Entered(Digits),
    /// The entry ended without usable digits.
    Failed(EntryError),
    /// Cleared by the person; nothing typed.
    Cleared,
}

/// The entry being typed on one reader.
#[derive(Debug)]
pub struct Entry {
    framing: Framing,
    digits: String,
    overflow: bool,
    last_key: Option<Millis>,
}

impl Entry {
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            digits: String::new(),
            overflow: false,
            last_key: None,
        }
    }

    /// Digits typed so far.
    pub fn typed(&self) -> usize {
        self.digits.len()
    }

    fn reset(&mut self) {
        self.digits.clear();
        self.overflow = false;
        self.last_key = None;
    }

    /// Takes `key` pressed at `at`. A key after the timeout starts a new entry (the stale
    /// digits are dropped first and reported by [`Entry::poll`], not here).
    pub fn key(&mut self, key: Key, at: Millis) -> Step {
        // Stale digits are dropped first: this key then begins a fresh entry.
        let _stale = self.poll(at);
        match key {
            Key::Clear => {
                self.reset();
                Step::Cleared
            }
            Key::Digit(d) => {
                self.last_key = Some(at);
                if self.digits.len() < self.framing.max_digits {
                    self.digits.push(char::from(b'0' + d.min(9)));
                } else {
                    self.overflow = true;
                }
                if self.framing.fixed_length == Some(self.digits.len()) && !self.overflow {
                    return self.finish();
                }
                Step::Typing(self.digits.len())
            }
            Key::Enter => {
                if self.digits.is_empty() && !self.overflow {
                    self.reset();
                    return Step::Cleared;
                }
                self.finish()
            }
        }
    }

    fn finish(&mut self) -> Step {
        let step = if self.overflow {
            Step::Failed(EntryError::TooLong)
        } else if self.digits.len() < self.framing.min_digits {
            Step::Failed(EntryError::TooShort)
        } else {
            Step::Entered(Digits(std::mem::take(&mut self.digits)))
        };
        self.reset();
        step
    }

    /// Drops the digits typed so far if the last key is older than the key timeout at `now`
    /// (the reader task calls this on a timer). `Some(Failed(Timeout))` when it did.
    pub fn poll(&mut self, now: Millis) -> Option<Step> {
        let last = self.last_key?;
        let timeout = Millis::try_from(self.framing.key_timeout_ms).unwrap_or(Millis::MAX);
        if now.saturating_sub(last) > timeout {
            self.reset();
            return Some(Step::Failed(EntryError::Timeout));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(e: &mut Entry, keys: &str, start: Millis, gap: Millis) -> Vec<Step> {
        keys.chars()
            .enumerate()
            .map(|(i, c)| {
                let key = match c {
                    '0'..='9' => Key::Digit(c as u8 - b'0'),
                    '#' => Key::Enter,
                    '*' => Key::Clear,
                    _ => panic!("{c}"),
                };
                e.key(key, start + i as Millis * gap)
            })
            .collect()
    }

    fn entered(s: &str) -> Step {
        Step::Entered(Digits(s.to_owned()))
    }

    #[test]
    fn digits_then_enter() {
        let mut e = Entry::new(Framing::default());
        let steps = typed(&mut e, "1234#", 0, 300);
        assert_eq!(
            steps,
            vec![
                Step::Typing(1),
                Step::Typing(2),
                Step::Typing(3),
                Step::Typing(4),
                entered("1234")
            ]
        );
        assert_eq!(e.typed(), 0, "ready for the next entry");
    }

    #[test]
    fn too_short_and_too_long_are_refused() {
        let mut e = Entry::new(Framing::default());
        assert_eq!(
            typed(&mut e, "12#", 0, 100).last(),
            Some(&Step::Failed(EntryError::TooShort))
        );
        assert_eq!(
            typed(&mut e, "123456789#", 10_000, 100).last(),
            Some(&Step::Failed(EntryError::TooLong))
        );
        assert_eq!(
            typed(&mut e, "87654321#", 20_000, 100).last(),
            Some(&entered("87654321"))
        );
    }

    #[test]
    fn a_pause_longer_than_the_timeout_drops_the_digits() {
        let mut e = Entry::new(Framing::default());
        typed(&mut e, "12", 0, 100);
        assert_eq!(e.poll(5_000), None, "within 5 s of the last key");
        assert_eq!(e.poll(5_101), Some(Step::Failed(EntryError::Timeout)));
        // A slow typist: the first digits are gone, the rest is a fresh (too short) entry.
        let mut e = Entry::new(Framing::default());
        let steps = typed(&mut e, "12", 0, 100);
        assert_eq!(steps.last(), Some(&Step::Typing(2)));
        assert_eq!(
            typed(&mut e, "34#", 20_000, 100).last(),
            Some(&Step::Failed(EntryError::TooShort))
        );
    }

    #[test]
    fn clear_starts_again_and_a_lone_enter_is_nothing() {
        let mut e = Entry::new(Framing::default());
        assert_eq!(
            typed(&mut e, "99*1234#", 0, 100).last(),
            Some(&entered("1234"))
        );
        assert_eq!(e.key(Key::Enter, 5_000), Step::Cleared);
    }

    #[test]
    fn a_fixed_length_entry_needs_no_enter() {
        let framing = Framing {
            fixed_length: Some(6),
            ..Framing::default()
        };
        let mut e = Entry::new(framing);
        assert_eq!(
            typed(&mut e, "123456", 0, 50).last(),
            Some(&entered("123456"))
        );
    }

    #[test]
    fn digits_parse_only_digits() {
        assert_eq!(Digits::parse("0042").map(|d| d.len()), Some(4));
        for bad in ["", "12a4", " 1234", "-123", &"9".repeat(33)] {
            assert_eq!(Digits::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn digits_never_print() {
        let d = Digits("4711".into());
        assert_eq!(format!("{d:?}"), "Digits(4 digits)");
        assert_eq!(d.to_string(), "4 digits");
        assert_eq!(
            format!("{:?}", entered("4711")),
            "Entered(Digits(4 digits))"
        );
    }

    #[test]
    fn evdev_and_wiegand_key_codes() {
        let row: Vec<_> = (2..=11).map(|c| Key::from_evdev(c).unwrap()).collect();
        assert_eq!(row, (1..=9).chain([0]).map(Key::Digit).collect::<Vec<_>>());
        let pad: Vec<_> = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73]
            .iter()
            .map(|&c| Key::from_evdev(c).unwrap())
            .collect();
        assert_eq!(pad, (0..=9).map(Key::Digit).collect::<Vec<_>>());
        assert_eq!(Key::from_evdev(28), Some(Key::Enter));
        assert_eq!(Key::from_evdev(96), Some(Key::Enter));
        assert_eq!(Key::from_evdev(1), Some(Key::Clear));
        assert_eq!(Key::from_evdev(42), None, "Shift is ignored");
        assert_eq!(Key::from_wiegand(11), Some(Key::Enter));
        assert_eq!(Key::from_wiegand(10), Some(Key::Clear));
        assert_eq!(Key::from_wiegand(12), None);
    }

    #[test]
    fn framing_limits_are_checked() {
        assert_eq!(Framing::default().validate(), Ok(()));
        let bad = Framing {
            fixed_length: Some(9),
            ..Framing::default()
        };
        assert_eq!(
            bad.validate(),
            Err("fixed_length must be between min_digits and max_digits")
        );
    }
}
