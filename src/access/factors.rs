//! Factor rules: which factors a door asks for (face, badge, PIN), when, and whether what a
//! person presented so far satisfies them. Pure: no I/O, no clock of its own — the caller
//! passes the time and a [`PinChecker`] that knows the hashes and the lock-outs.
//!
//! Why the order is free: at a door a person may show their face first and then type the PIN,
//! or badge first and then look at the camera. Every factor is kept with the time it was
//! presented and the rule is judged over all of them; they must fall within
//! `door.factor_window_secs` of the first one, so a badge read left behind at the door cannot
//! be completed by the next person's face a minute later.
//!
//! Why a PIN is checked against the person the other factor named: a PIN alone identifies
//! nobody (four digits are shared by thousands of people); it only confirms the face or the
//! badge. When the PIN comes first its digits wait (never logged, see
//! [`crate::credentials::keypad::Digits`]) until the face or badge names whose PIN to check.

use serde::{Deserialize, Serialize};

use crate::credentials::keypad::Digits;
use crate::credentials::pin::PinResult;
use crate::model::Millis;

/// `door.factors`: what the door asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FactorMode {
    /// The face alone (the default).
    #[default]
    Face,
    /// The face, or a badge instead (a person the camera does not recognise today).
    FaceOrBadge,
    /// The face and the person's PIN.
    FaceAndPin,
    /// The face and the person's own badge.
    FaceAndBadge,
    /// A badge and its holder's PIN (a person not yet enrolled).
    BadgeAndPin,
}

impl FactorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorMode::Face => "face",
            FactorMode::FaceOrBadge => "face_or_badge",
            FactorMode::FaceAndPin => "face_and_pin",
            FactorMode::FaceAndBadge => "face_and_badge",
            FactorMode::BadgeAndPin => "badge_and_pin",
        }
    }
}

/// A kind of factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    Face,
    Badge,
    Pin,
}

/// A time of day, in minutes after midnight (local time of the door), written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const fn minutes(self) -> u16 {
        self.0
    }

    /// `"HH:MM"`, 00:00 to 23:59.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a time of day (HH:MM, 00:00 to 23:59)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    /// From minutes after midnight (taken modulo a day).
    pub fn from_minutes(m: u32) -> Self {
        Self(u16::try_from(m % 1440).unwrap_or(0))
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeOfDay::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A mode that applies between two times of day (`from` included, `until` excluded); a window
/// whose `until` is earlier than its `from` runs over midnight (20:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub factors: FactorMode,
    pub from: TimeOfDay,
    pub until: TimeOfDay,
}

impl Scheduled {
    pub fn covers(&self, t: TimeOfDay) -> bool {
        if self.from <= self.until {
            self.from <= t && t < self.until
        } else {
            t >= self.from || t < self.until
        }
    }
}

/// A door's factor rules: a mode, and schedules that replace it at certain hours (the first
/// schedule that covers the time wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactorRules {
    pub factors: FactorMode,
    pub schedules: Vec<Scheduled>,
}

impl FactorRules {
    /// The mode in force at local time `t`.
    pub fn mode_at(&self, t: TimeOfDay) -> FactorMode {
        self.schedules
            .iter()
            .find(|s| s.covers(t))
            .map_or(self.factors, |s| s.factors)
    }

    /// Names the first schedule that could never apply (`from` = `until`).
    pub fn validate(&self) -> Result<(), String> {
        for (i, s) in self.schedules.iter().enumerate() {
            if s.from == s.until {
                return Err(format!(
                    "schedules[{i}]: from and until are both {}, an empty window",
                    s.from
                ));
            }
        }
        Ok(())
    }
}

/// Who a badge belongs to, as the directory says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadgeHolder {
    Subject(String),
    /// No subject holds this number.
    Unknown,
}

/// What one person presented so far, each with the time it was presented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presented {
    /// The face, and the subject it matched (`None`: a face nobody enrolled matched).
    pub face: Option<(Option<String>, Millis)>,
    pub badge: Option<(BadgeHolder, Millis)>,
    pub pin: Option<(Digits, Millis)>,
}

impl Presented {
    fn times(&self) -> impl Iterator<Item = Millis> + '_ {
        self.face
            .as_ref()
            .map(|f| f.1)
            .into_iter()
            .chain(self.badge.as_ref().map(|b| b.1))
            .chain(self.pin.as_ref().map(|p| p.1))
    }

    /// When the first factor was presented.
    pub fn first_at(&self) -> Option<Millis> {
        self.times().min()
    }

    fn face_subject(&self) -> Option<&str> {
        self.face.as_ref().and_then(|(s, _)| s.as_deref())
    }

    fn badge_subject(&self) -> Option<&str> {
        match &self.badge {
            Some((BadgeHolder::Subject(s), _)) => Some(s),
            _ => None,
        }
    }
}

/// The PIN hashes and lock-outs, as the decision service holds them.
pub trait PinChecker {
    /// Whether `subject` is locked out of this door now.
    fn locked(&self, subject: &str) -> bool;
    /// Checks `pin` against `subject`'s PIN (and duress PIN).
    fn check(&self, subject: &str, pin: &Digits) -> PinResult;
}

/// Why the factors were refused (each becomes a decision reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The face matched nobody (and the mode needs the face).
    UnknownFace,
    /// No subject holds the badge.
    BadgeUnknown,
    /// The badge belongs to someone other than the face.
    BadgeMismatch,
    /// The PIN is not the person's.
    PinWrong,
    /// The person has no PIN set (the mode needs one).
    PinNotSet,
    /// The first factor is older than the window and the rest did not come.
    FactorTimeout,
    /// Too many wrong PINs: locked out of this door for now.
    CredentialLocked,
}

/// The rule's judgement of what was presented so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The mode is satisfied: `subject` presented every factor it needs.
    Complete {
        subject: String,
        /// The factors that counted, for the event.
        by: Vec<FactorKind>,
        /// The duress PIN was used: open, and raise the silent alarm.
        duress: bool,
    },
    /// Still missing: ask for it while the window is open.
    Needs(FactorKind),
    Refused(Refusal),
}

/// Judges `presented` under `mode` at `now`, with every factor within `window_ms` of the
/// first. A wrong PIN is returned as [`Refusal::PinWrong`]; counting it towards the lock-out is
/// the caller's (it knows the door and the subject).
pub fn judge(
    mode: FactorMode,
    presented: &Presented,
    now: Millis,
    window_ms: Millis,
    pins: &dyn PinChecker,
) -> Verdict {
    let Some(first) = presented.first_at() else {
        return Verdict::Needs(match mode {
            FactorMode::BadgeAndPin => FactorKind::Badge,
            _ => FactorKind::Face,
        });
    };
    let latest = presented.times().max().unwrap_or(first);
    if latest - first > window_ms {
        return Verdict::Refused(Refusal::FactorTimeout);
    }
    let verdict = judge_factors(mode, presented, pins);
    if matches!(verdict, Verdict::Needs(_)) && now - first > window_ms {
        return Verdict::Refused(Refusal::FactorTimeout);
    }
    verdict
}

fn complete(subject: &str, by: &[FactorKind], duress: bool) -> Verdict {
    Verdict::Complete {
        subject: subject.to_owned(),
        by: by.to_vec(),
        duress,
    }
}

/// The PIN step for `subject`: locked, missing, wrong or right.
fn pin_for(
    subject: &str,
    presented: &Presented,
    pins: &dyn PinChecker,
    other: FactorKind,
) -> Verdict {
    if pins.locked(subject) {
        return Verdict::Refused(Refusal::CredentialLocked);
    }
    let Some((digits, _)) = &presented.pin else {
        return Verdict::Needs(FactorKind::Pin);
    };
    match pins.check(subject, digits) {
        PinResult::Correct => complete(subject, &[other, FactorKind::Pin], false),
        PinResult::Duress => complete(subject, &[other, FactorKind::Pin], true),
        PinResult::Wrong => Verdict::Refused(Refusal::PinWrong),
    }
}

fn judge_factors(mode: FactorMode, p: &Presented, pins: &dyn PinChecker) -> Verdict {
    let face = p.face.as_ref().map(|(s, _)| s.as_deref());
    let badge = p.badge.as_ref().map(|(h, _)| h);
    let verdict = match mode {
        FactorMode::Face => match face {
            Some(Some(s)) => complete(s, &[FactorKind::Face], false),
            Some(None) => Verdict::Refused(Refusal::UnknownFace),
            None => Verdict::Needs(FactorKind::Face),
        },
        FactorMode::FaceOrBadge => match (face, badge) {
            (Some(Some(s)), _) => complete(s, &[FactorKind::Face], false),
            (_, Some(BadgeHolder::Subject(s))) => complete(s, &[FactorKind::Badge], false),
            (_, Some(BadgeHolder::Unknown)) => Verdict::Refused(Refusal::BadgeUnknown),
            (Some(None), None) => Verdict::Refused(Refusal::UnknownFace),
            (None, None) => Verdict::Needs(FactorKind::Face),
        },
        FactorMode::FaceAndPin => match face {
            Some(Some(s)) => pin_for(s, p, pins, FactorKind::Face),
            Some(None) => Verdict::Refused(Refusal::UnknownFace),
            None => Verdict::Needs(FactorKind::Face),
        },
        FactorMode::FaceAndBadge => match (face, badge) {
            (Some(None), _) => Verdict::Refused(Refusal::UnknownFace),
            (_, Some(BadgeHolder::Unknown)) => Verdict::Refused(Refusal::BadgeUnknown),
            (Some(Some(f)), Some(BadgeHolder::Subject(b))) if f == b => {
                complete(f, &[FactorKind::Face, FactorKind::Badge], false)
            }
            (Some(Some(_)), Some(BadgeHolder::Subject(_))) => {
                Verdict::Refused(Refusal::BadgeMismatch)
            }
            (Some(Some(_)), None) => Verdict::Needs(FactorKind::Badge),
            (None, _) => Verdict::Needs(FactorKind::Face),
        },
        FactorMode::BadgeAndPin => match badge {
            Some(BadgeHolder::Subject(s)) => pin_for(s, p, pins, FactorKind::Badge),
            Some(BadgeHolder::Unknown) => Verdict::Refused(Refusal::BadgeUnknown),
            None => Verdict::Needs(FactorKind::Badge),
        },
    };
    verdict.with_subjects(p)
}

impl Verdict {
    /// A complete verdict whose face and badge (when both were presented) name different
    /// people is a mismatch, in every mode: the person at the door is not who the badge says.
    fn with_subjects(self, p: &Presented) -> Verdict {
        match (&self, p.face_subject(), p.badge_subject()) {
            (Verdict::Complete { .. }, Some(f), Some(b)) if f != b => {
                Verdict::Refused(Refusal::BadgeMismatch)
            }
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// PINs by subject; the duress PIN is the PIN with its last digit plus one.
    struct Pins {
        pins: HashMap<&'static str, &'static str>,
        locked: Vec<&'static str>,
        checked: RefCell<Vec<String>>,
    }

    impl Pins {
        fn new() -> Self {
            Self {
                pins: HashMap::from([("ann", "1234"), ("bob", "9999")]),
                locked: vec![],
                checked: RefCell::new(vec![]),
            }
        }
    }

    impl PinChecker for Pins {
        fn locked(&self, subject: &str) -> bool {
            self.locked.contains(&subject)
        }
        fn check(&self, subject: &str, pin: &Digits) -> PinResult {
            self.checked.borrow_mut().push(subject.to_owned());
            match self.pins.get(subject) {
                Some(&p) if p == pin.expose() => PinResult::Correct,
                Some(&p) if crate::credentials::pin::duress_of(p) == pin.expose() => {
                    PinResult::Duress
                }
                _ => PinResult::Wrong,
            }
        }
    }

    fn digits(s: &str) -> Digits {
        Digits::parse(s).expect("digits")
    }

    const WINDOW: Millis = 30_000;

    fn face(s: Option<&str>, at: Millis) -> Option<(Option<String>, Millis)> {
        Some((s.map(str::to_owned), at))
    }

    fn badge(s: Option<&str>, at: Millis) -> Option<(BadgeHolder, Millis)> {
        Some((
            s.map_or(BadgeHolder::Unknown, |s| BadgeHolder::Subject(s.to_owned())),
            at,
        ))
    }

    fn done(subject: &str, by: &[FactorKind], duress: bool) -> Verdict {
        complete(subject, by, duress)
    }

    use FactorKind::{Badge, Face as F, Pin};

    #[test]
    fn face_alone() {
        let pins = Pins::new();
        let j = |p: &Presented| judge(FactorMode::Face, p, 1_000, WINDOW, &pins);
        assert_eq!(j(&Presented::default()), Verdict::Needs(F));
        let p = Presented {
            face: face(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(j(&p), done("ann", &[F], false));
        let p = Presented {
            face: face(None, 0),
            ..Default::default()
        };
        assert_eq!(j(&p), Verdict::Refused(Refusal::UnknownFace));
    }

    #[test]
    fn face_or_badge_takes_either_and_refuses_an_unknown_badge() {
        let pins = Pins::new();
        let j = |p: &Presented| judge(FactorMode::FaceOrBadge, p, 1_000, WINDOW, &pins);
        assert_eq!(j(&Presented::default()), Verdict::Needs(F));
        let by_face = Presented {
            face: face(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(j(&by_face), done("ann", &[F], false));
        let by_badge = Presented {
            badge: badge(Some("bob"), 0),
            ..Default::default()
        };
        assert_eq!(j(&by_badge), done("bob", &[Badge], false));
        let unknown = Presented {
            badge: badge(None, 0),
            ..Default::default()
        };
        assert_eq!(j(&unknown), Verdict::Refused(Refusal::BadgeUnknown));
        let stranger_with_badge = Presented {
            face: face(None, 0),
            badge: badge(Some("bob"), 10),
            ..Default::default()
        };
        assert_eq!(j(&stranger_with_badge), done("bob", &[Badge], false));
        let two_people = Presented {
            face: face(Some("ann"), 0),
            badge: badge(Some("bob"), 10),
            ..Default::default()
        };
        assert_eq!(j(&two_people), Verdict::Refused(Refusal::BadgeMismatch));
    }

    #[test]
    fn face_and_pin_in_either_order() {
        let pins = Pins::new();
        let j = |p: &Presented, now| judge(FactorMode::FaceAndPin, p, now, WINDOW, &pins);
        // Face first: the door asks for the PIN.
        let mut p = Presented {
            face: face(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(j(&p, 100), Verdict::Needs(Pin));
        p.pin = Some((digits("1234"), 4_000));
        assert_eq!(j(&p, 4_000), done("ann", &[F, Pin], false));
        // PIN first: it waits for the face, which says whose PIN to check.
        let mut p = Presented {
            pin: Some((digits("9999"), 0)),
            ..Default::default()
        };
        assert_eq!(j(&p, 100), Verdict::Needs(F));
        assert_eq!(
            pins.checked.borrow().as_slice(),
            ["ann"],
            "nobody to check the PIN against yet"
        );
        p.face = face(Some("bob"), 2_000);
        assert_eq!(j(&p, 2_000), done("bob", &[F, Pin], false));
        assert_eq!(pins.checked.borrow().as_slice(), ["ann", "bob"]);
    }

    #[test]
    fn face_and_pin_refusals_and_duress() {
        let mut pins = Pins::new();
        let p = |pin: &str| Presented {
            face: face(Some("ann"), 0),
            pin: Some((digits(pin), 10)),
            ..Default::default()
        };
        assert_eq!(
            judge(FactorMode::FaceAndPin, &p("1111"), 10, WINDOW, &pins),
            Verdict::Refused(Refusal::PinWrong)
        );
        assert_eq!(
            judge(FactorMode::FaceAndPin, &p("1235"), 10, WINDOW, &pins),
            done("ann", &[F, Pin], true)
        );
        let unknown = Presented {
            face: face(None, 0),
            pin: Some((digits("1234"), 10)),
            ..Default::default()
        };
        assert_eq!(
            judge(FactorMode::FaceAndPin, &unknown, 10, WINDOW, &pins),
            Verdict::Refused(Refusal::UnknownFace)
        );
        pins.locked.push("ann");
        assert_eq!(
            judge(FactorMode::FaceAndPin, &p("1234"), 10, WINDOW, &pins),
            Verdict::Refused(Refusal::CredentialLocked)
        );
        let face_only = Presented {
            face: face(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(
            judge(FactorMode::FaceAndPin, &face_only, 10, WINDOW, &pins),
            Verdict::Refused(Refusal::CredentialLocked),
            "a locked person is told at once, not asked for a PIN"
        );
    }

    #[test]
    fn face_and_badge_must_be_one_person_in_either_order() {
        let pins = Pins::new();
        let j = |p: &Presented| judge(FactorMode::FaceAndBadge, p, 1_000, WINDOW, &pins);
        let face_first = Presented {
            face: face(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(j(&face_first), Verdict::Needs(Badge));
        let badge_first = Presented {
            badge: badge(Some("ann"), 0),
            ..Default::default()
        };
        assert_eq!(j(&badge_first), Verdict::Needs(F));
        let both = Presented {
            face: face(Some("ann"), 0),
            badge: badge(Some("ann"), 500),
            ..Default::default()
        };
        assert_eq!(j(&both), done("ann", &[F, Badge], false));
        let other = Presented {
            face: face(Some("ann"), 0),
            badge: badge(Some("bob"), 500),
            ..Default::default()
        };
        assert_eq!(j(&other), Verdict::Refused(Refusal::BadgeMismatch));
        let unknown = Presented {
            face: face(Some("ann"), 0),
            badge: badge(None, 500),
            ..Default::default()
        };
        assert_eq!(j(&unknown), Verdict::Refused(Refusal::BadgeUnknown));
        let stranger = Presented {
            face: face(None, 0),
            badge: badge(Some("ann"), 500),
            ..Default::default()
        };
        assert_eq!(j(&stranger), Verdict::Refused(Refusal::UnknownFace));
    }

    #[test]
    fn badge_and_pin_for_people_without_a_face() {
        let pins = Pins::new();
        let j = |p: &Presented| judge(FactorMode::BadgeAndPin, p, 1_000, WINDOW, &pins);
        assert_eq!(j(&Presented::default()), Verdict::Needs(Badge));
        let mut p = Presented {
            badge: badge(Some("bob"), 0),
            ..Default::default()
        };
        assert_eq!(j(&p), Verdict::Needs(Pin));
        p.pin = Some((digits("9999"), 300));
        assert_eq!(j(&p), done("bob", &[Badge, Pin], false));
        p.pin = Some((digits("9990"), 300));
        assert_eq!(
            j(&p),
            done("bob", &[Badge, Pin], true),
            "9999 + 1 on the last digit wraps to 9990"
        );
        p.pin = Some((digits("1234"), 300));
        assert_eq!(
            j(&p),
            Verdict::Refused(Refusal::PinWrong),
            "ann's PIN on bob's badge"
        );
    }

    #[test]
    fn every_two_factor_mode_times_out_in_every_order() {
        let pins = Pins::new();
        let cases: [(FactorMode, Presented, Presented); 3] = [
            (
                FactorMode::FaceAndPin,
                Presented {
                    face: face(Some("ann"), 0),
                    ..Default::default()
                },
                Presented {
                    pin: Some((digits("1234"), 0)),
                    ..Default::default()
                },
            ),
            (
                FactorMode::FaceAndBadge,
                Presented {
                    face: face(Some("ann"), 0),
                    ..Default::default()
                },
                Presented {
                    badge: badge(Some("ann"), 0),
                    ..Default::default()
                },
            ),
            (
                FactorMode::BadgeAndPin,
                Presented {
                    badge: badge(Some("bob"), 0),
                    ..Default::default()
                },
                Presented {
                    pin: Some((digits("9999"), 0)),
                    ..Default::default()
                },
            ),
        ];
        for (mode, first_a, first_b) in cases {
            for first in [first_a, first_b] {
                // Waiting for the second factor: asked for within the window, refused after it.
                assert!(
                    matches!(
                        judge(mode, &first, WINDOW, WINDOW, &pins),
                        Verdict::Needs(_)
                    ),
                    "{mode:?}"
                );
                assert_eq!(
                    judge(mode, &first, WINDOW + 1, WINDOW, &pins),
                    Verdict::Refused(Refusal::FactorTimeout),
                    "{mode:?} {first:?}"
                );
            }
        }
        // The second factor arrives, but after the window: refused even though both are there.
        let late = Presented {
            face: face(Some("ann"), 0),
            pin: Some((digits("1234"), WINDOW + 1)),
            ..Default::default()
        };
        assert_eq!(
            judge(FactorMode::FaceAndPin, &late, WINDOW + 1, WINDOW, &pins),
            Verdict::Refused(Refusal::FactorTimeout)
        );
        // Exactly at the window's end still counts.
        let edge = Presented {
            face: face(Some("ann"), 0),
            pin: Some((digits("1234"), WINDOW)),
            ..Default::default()
        };
        assert_eq!(
            judge(FactorMode::FaceAndPin, &edge, WINDOW, WINDOW, &pins),
            done("ann", &[F, Pin], false)
        );
        // A complete verdict is not timed out by judging it later.
        assert_eq!(
            judge(FactorMode::FaceAndPin, &edge, 10 * WINDOW, WINDOW, &pins),
            done("ann", &[F, Pin], false)
        );
    }

    #[test]
    fn schedules_replace_the_mode_at_night() {
        let t = |s| TimeOfDay::parse(s).unwrap();
        let rules = FactorRules {
            factors: FactorMode::Face,
            schedules: vec![Scheduled {
                factors: FactorMode::FaceAndPin,
                from: t("20:00"),
                until: t("07:00"),
            }],
        };
        assert_eq!(rules.mode_at(t("19:59")), FactorMode::Face);
        assert_eq!(rules.mode_at(t("20:00")), FactorMode::FaceAndPin);
        assert_eq!(rules.mode_at(t("00:00")), FactorMode::FaceAndPin);
        assert_eq!(rules.mode_at(t("06:59")), FactorMode::FaceAndPin);
        assert_eq!(rules.mode_at(t("07:00")), FactorMode::Face);
        let day = Scheduled {
            factors: FactorMode::FaceOrBadge,
            from: t("08:00"),
            until: t("17:30"),
        };
        assert!(day.covers(t("12:00")) && !day.covers(t("17:30")) && !day.covers(t("07:59")));
        assert_eq!(rules.validate(), Ok(()));
        let empty = FactorRules {
            schedules: vec![Scheduled {
                factors: FactorMode::FaceAndPin,
                from: t("09:00"),
                until: t("09:00"),
            }],
            ..FactorRules::default()
        };
        assert!(empty.validate().unwrap_err().contains("schedules[0]"));
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(TimeOfDay::parse("07:05").unwrap().minutes(), 425);
        assert_eq!(TimeOfDay::parse("23:59").unwrap().to_string(), "23:59");
        for bad in ["24:00", "7:05", "07:60", "0705", "", "ab:cd"] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TimeOfDay::from_minutes(1440 + 61).to_string(), "01:01");
        let rules: FactorRules = toml::from_str(
            "factors = \"face_or_badge\"\n[[schedules]]\nfactors = \"face_and_pin\"\nfrom = \"20:00\"\nuntil = \"07:00\"\n",
        )
        .unwrap();
        assert_eq!(rules.schedules[0].from.to_string(), "20:00");
        assert!(toml::from_str::<FactorRules>("factors = \"face_and_iris\"").is_err());
    }
}
