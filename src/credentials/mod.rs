//! Second factors at the door: badge numbers and PINs from the readers a door is wired to.
//!
//! | module | what lives there |
//! |---|---|
//! | [`wiegand`] | Wiegand frames (26, 34, 37 bit, keypad keys, raw) from the two data lines' edges, timing and parity checked |
//! | [`keypad`] | keys into entries: a badge reader's typed number, a PIN typed at a keypad; [`keypad::Digits`] never prints its digits |
//! | [`pin`] | what a PIN may be, the duress PIN, the lock-out after wrong PINs |
//!
//! What the door asks for and when (face, badge, PIN; schedules; the window) is the access
//! policy's: [`crate::access::factors`].

pub mod keypad;
pub mod pin;
pub mod wiegand;
