//! PIN rules: what a PIN may be, the duress PIN, and the lock-out after wrong PINs.
//!
//! Why a lock-out per person *and door*: four digits fall to a few thousand guesses, so wrong
//! PINs must stop a guesser; but locking a nurse out of the whole hospital because someone
//! tried her badge at one pharmacy door would turn the lock-out into a way to block staff. After
//! `credentials.max_pin_failures` wrong PINs in a row at one door the person is refused there
//! with `credential_locked` for `credentials.lockout_secs`, with an alarm; a correct PIN resets
//! the count.
//!
//! Why the duress PIN is derived by default: a person under threat must not have to remember a
//! second code. "Your PIN with the last digit one higher" (9 wraps to 0) is what they can recall
//! with someone behind them; a site may instead give each person a separate duress code.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::keypad::Digits;
use crate::model::Millis;

/// What a PIN check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinResult {
    Correct,
    /// The duress PIN: the door opens as usual and a silent alarm is raised.
    Duress,
    Wrong,
}

/// Shortest and longest PIN.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;

/// Why a new PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeakPin {
    /// Not 4 to 8 digits.
    Length,
    /// One digit repeated (`1111`).
    Repeated,
    /// A run up or down (`1234`, `9876`).
    Sequence,
}

/// Checks a PIN a person or an admin sets (not one typed at the door).
pub fn check_new_pin(pin: &Digits) -> Result<(), WeakPin> {
    let d: Vec<i8> = pin
        .expose()
        .bytes()
        .map(|b| i8::try_from(b - b'0').unwrap_or(0))
        .collect();
    if !PIN_DIGITS.contains(&d.len()) {
        return Err(WeakPin::Length);
    }
    if d.iter().all(|&x| x == d[0]) {
        return Err(WeakPin::Repeated);
    }
    let steps: Vec<i8> = d.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1) {
        return Err(WeakPin::Sequence);
    }
    Ok(())
}

/// `pin` with its last digit moved up by `step` (mod 10).
fn shift_last_digit(pin: &str, step: u32) -> Option<String> {
    let mut s = pin.to_owned();
    let d = s.pop()?.to_digit(10)?;
    s.push(char::from_digit((d + step) % 10, 10)?);
    Some(s)
}

/// The duress PIN derived from `pin`: its last digit one higher, 9 wrapping to 0.
pub fn duress_of(pin: &str) -> String {
    shift_last_digit(pin, 1).unwrap_or_else(|| pin.to_owned())
}

/// How a duress PIN is recognised (`credentials.duress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuressRule {
    /// No duress PIN.
    Off,
    /// The PIN with its last digit one higher ([`duress_of`]).
    #[default]
    PlusOne,
    /// A separate code per person, set like the PIN.
    Separate,
}

/// What an entered PIN is, given checks against the person's stored PIN and duress code
/// (`is_pin`, `is_duress`: hash comparisons the caller makes). The PIN itself always wins: a
/// person whose PIN happens to be another's derived duress code is never alarmed by mistake.
pub fn classify(
    entered: &Digits,
    rule: DuressRule,
    is_pin: impl Fn(&str) -> bool,
    is_duress: impl Fn(&str) -> bool,
) -> PinResult {
    if is_pin(entered.expose()) {
        return PinResult::Correct;
    }
    let duress = match rule {
        DuressRule::Off => false,
        // The entered digits are the duress code when one lower on the last digit is the PIN.
        DuressRule::PlusOne => shift_last_digit(entered.expose(), 9).is_some_and(|p| is_pin(&p)),
        DuressRule::Separate => is_duress(entered.expose()),
    };
    if duress {
        PinResult::Duress
    } else {
        PinResult::Wrong
    }
}

/// Wrong PINs in a row per (subject, door), and the lock-outs they caused.
#[derive(Debug)]
pub struct Lockout {
    max_failures: u32,
    lockout_ms: Millis,
    /// (failures in a row, locked until)
    entries: HashMap<(String, String), (u32, Option<Millis>)>,
}

/// What a wrong PIN did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted: `remaining` more wrong PINs lock the person out.
    Counted { remaining: u32 },
    /// This one locked the person out of the door until `until` (raise the alarm).
    Locked { until: Millis },
}

impl Lockout {
    pub fn new(max_failures: u32, lockout_secs: u64) -> Self {
        Self {
            max_failures: max_failures.max(1),
            lockout_ms: Millis::try_from(lockout_secs.saturating_mul(1000)).unwrap_or(Millis::MAX),
            entries: HashMap::new(),
        }
    }

    fn key(subject: &str, door: &str) -> (String, String) {
        (subject.to_owned(), door.to_owned())
    }

    /// Until when `subject` is locked out of `door` at `now`, if they are.
    pub fn locked_until(&self, subject: &str, door: &str, now: Millis) -> Option<Millis> {
        self.entries
            .get(&Self::key(subject, door))
            .and_then(|(_, until)| *until)
            .filter(|&until| now < until)
    }

    /// Counts a wrong PIN at `now`.
    pub fn failure(&mut self, subject: &str, door: &str, now: Millis) -> Failure {
        let lockout_ms = self.lockout_ms;
        let max = self.max_failures;
        let entry = self
            .entries
            .entry(Self::key(subject, door))
            .or_insert((0, None));
        if entry.1.is_some_and(|until| now >= until) {
            // The lock-out ran out: a fresh count.
            *entry = (0, None);
        }
        entry.0 += 1;
        if entry.0 >= max {
            let until = now.saturating_add(lockout_ms);
            *entry = (0, Some(until));
            Failure::Locked { until }
        } else {
            Failure::Counted {
                remaining: max - entry.0,
            }
        }
    }

    /// A correct PIN: the count starts again.
    pub fn success(&mut self, subject: &str, door: &str) {
        self.entries.remove(&Self::key(subject, door));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digits {
        Digits::parse(s).unwrap()
    }

    #[test]
    fn new_pins_are_4_to_8_digits_and_not_trivial() {
        assert_eq!(check_new_pin(&d("4711")), Ok(()));
        assert_eq!(check_new_pin(&d("90210377")), Ok(()));
        assert_eq!(check_new_pin(&d("471")), Err(WeakPin::Length));
        assert_eq!(check_new_pin(&d("123456789")), Err(WeakPin::Length));
        assert_eq!(check_new_pin(&d("0000")), Err(WeakPin::Repeated));
        assert_eq!(check_new_pin(&d("3456")), Err(WeakPin::Sequence));
        assert_eq!(check_new_pin(&d("8765")), Err(WeakPin::Sequence));
    }

    #[test]
    fn the_duress_pin_is_one_higher_on_the_last_digit() {
        assert_eq!(duress_of("4711"), "4712");
        assert_eq!(duress_of("4719"), "4710");
        assert_eq!(duress_of("0"), "1");
    }

    #[test]
    fn classify_pin_duress_and_wrong() {
        let is_pin = |p: &str| p == "4719";
        let no_code = |_: &str| false;
        assert_eq!(
            classify(&d("4719"), DuressRule::PlusOne, is_pin, no_code),
            PinResult::Correct
        );
        assert_eq!(
            classify(&d("4710"), DuressRule::PlusOne, is_pin, no_code),
            PinResult::Duress
        );
        assert_eq!(
            classify(&d("4718"), DuressRule::PlusOne, is_pin, no_code),
            PinResult::Wrong,
            "one lower is just wrong"
        );
        assert_eq!(
            classify(&d("4710"), DuressRule::Off, is_pin, no_code),
            PinResult::Wrong
        );
        let code = |p: &str| p == "2580";
        assert_eq!(
            classify(&d("2580"), DuressRule::Separate, is_pin, code),
            PinResult::Duress
        );
        assert_eq!(
            classify(&d("4710"), DuressRule::Separate, is_pin, code),
            PinResult::Wrong
        );
        // The PIN wins over a duress match.
        assert_eq!(
            classify(&d("2580"), DuressRule::Separate, |p| p == "2580", code),
            PinResult::Correct
        );
    }

    #[test]
    fn five_wrong_pins_lock_one_door_for_the_lockout() {
        let mut l = Lockout::new(5, 300);
        for remaining in (1..5).rev() {
            assert_eq!(
                l.failure("ann", "pharmacy", 1_000),
                Failure::Counted { remaining }
            );
        }
        assert_eq!(
            l.failure("ann", "pharmacy", 2_000),
            Failure::Locked { until: 302_000 }
        );
        assert_eq!(l.locked_until("ann", "pharmacy", 2_000), Some(302_000));
        assert_eq!(
            l.locked_until("ann", "icu", 2_000),
            None,
            "other doors stay open to her"
        );
        assert_eq!(l.locked_until("bob", "pharmacy", 2_000), None);
        assert_eq!(l.locked_until("ann", "pharmacy", 301_999), Some(302_000));
        assert_eq!(
            l.locked_until("ann", "pharmacy", 302_000),
            None,
            "the lock-out ends"
        );
        // After it: a fresh count, not one wrong PIN to the next lock-out.
        assert_eq!(
            l.failure("ann", "pharmacy", 400_000),
            Failure::Counted { remaining: 4 }
        );
    }

    #[test]
    fn a_correct_pin_resets_the_count() {
        let mut l = Lockout::new(3, 60);
        l.failure("ann", "d", 0);
        l.failure("ann", "d", 1);
        l.success("ann", "d");
        assert_eq!(l.failure("ann", "d", 2), Failure::Counted { remaining: 2 });
    }
}
