//! The optional second login factor: time-based one-time passwords (RFC 6238 TOTP over
//! RFC 4226 HOTP) as every authenticator app makes them — HMAC-SHA-1, 6 digits, 30-second
//! steps, accepted one step early or late for clock drift.
//!
//! Why these parameters and no others: they are what the `otpauth://` URI defaults to and the
//! only ones all common apps support; a code of 6 digits behind the login throttle
//! (`console.max_failed_logins` per window) cannot be guessed in practice.
//!
//! The shared secret is stored per console account (`console_users.totp_secret`, base32). It
//! must be readable to check codes, so unlike the password it is not hashed: a stolen database
//! leaks it — but not the password, and both are needed to log in. A code is accepted once:
//! [`TotpState`] remembers the newest step used per account, so a code seen over a shoulder
//! cannot be replayed within its 90-second window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::session::{digest, random_token};
use crate::model::TokenRole;

/// Length of a step, seconds (RFC 6238's default X).
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps before and after the current one that are accepted (clock drift, typing time).
pub const SKEW_STEPS: u64 = 1;
/// Random bytes of a new secret (160 bits, RFC 4226's recommended key length for SHA-1).
pub const SECRET_BYTES: usize = 20;
/// How long the code form of a login stays valid after the password was accepted.
pub const PENDING_LOGIN: Duration = Duration::from_secs(300);
/// How long an enrolment waits for its confirming code.
pub const PENDING_ENROLMENT: Duration = Duration::from_secs(600);

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let idx = (bits >> (35 - i * 5)) & 0x1f;
            out.push(char::from(BASE32[idx as usize]));
        }
    }
    out
}

/// Decodes base32 (case-insensitive; spaces and `=` padding ignored); `None` on other characters.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut nbits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let up = c.to_ascii_uppercase();
        let v = BASE32.iter().position(|b| char::from(*b) == up)?;
        acc = (acc << 5) | u32::try_from(v).ok()?;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push(u8::try_from((acc >> nbits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// A new random secret, base32.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base32_encode(&b)
}

/// RFC 4226 HOTP: the `digits`-digit code of `key` for `counter`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The 6-digit code of `key` at `unix_secs`, zero-padded.
pub fn code_at(key: &[u8], unix_secs: u64) -> String {
    format!(
        "{:0width$}",
        hotp(key, step_at(unix_secs), DIGITS),
        width = DIGITS as usize
    )
}

/// The step whose code `code` is, within ±[`SKEW_STEPS`] of `unix_secs`; `None` for a wrong
/// or malformed code. Every candidate step is computed, so the time taken does not tell which
/// one matched.
pub fn verify(key: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
        let candidate = format!(
            "{:0width$}",
            hotp(key, step, DIGITS),
            width = DIGITS as usize
        );
        if super::session::same_secret(&candidate, code) {
            found = Some(step);
        }
    }
    found
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `otpauth://` URI an authenticator app imports (as text or QR code): issuer
/// `Wardgate`, the account's name and the controller's node as the label.
pub fn otpauth_uri(node: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/Wardgate:{}?secret={secret_b32}&issuer=Wardgate&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(&format!("{account}@{node}"))
    )
}

/// A login whose password was right, waiting for its code.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLogin {
    pub user_id: String,
    pub name: String,
    pub role: TokenRole,
    started: Instant,
}

/// The second factor's in-memory state: logins waiting for their code, enrolments waiting for
/// their confirming code, and the newest step used per account (replay guard).
#[derive(Debug, Default)]
pub struct TotpState {
    /// digest(form token) → the login it continues; single use.
    logins: Mutex<HashMap<String, PendingLogin>>,
    /// user id → (new secret, started): shown once, stored after a code confirms it.
    enrolments: Mutex<HashMap<String, (String, Instant)>>,
    /// user id → newest step accepted.
    used: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TotpState {
    /// Remembers a login whose password was accepted; returns the token the code form carries.
    pub fn start_login(&self, user_id: &str, name: &str, role: TokenRole, now: Instant) -> String {
        let token = random_token();
        let mut map = lock(&self.logins);
        map.retain(|_, p| now.saturating_duration_since(p.started) < PENDING_LOGIN);
        map.insert(
            digest(&token),
            PendingLogin {
                user_id: user_id.to_owned(),
                name: name.to_owned(),
                role,
                started: now,
            },
        );
        token
    }

    /// The login this form token continues, if it has not expired; it cannot be used again.
    pub fn take_login(&self, token: &str, now: Instant) -> Option<PendingLogin> {
        lock(&self.logins)
            .remove(&digest(token))
            .filter(|p| now.saturating_duration_since(p.started) < PENDING_LOGIN)
    }

    /// Starts (or restarts) an enrolment for `user_id`; returns the new secret.
    pub fn start_enrolment(&self, user_id: &str, now: Instant) -> String {
        let secret = new_secret();
        let mut map = lock(&self.enrolments);
        map.retain(|_, (_, t)| now.saturating_duration_since(*t) < PENDING_ENROLMENT);
        map.insert(user_id.to_owned(), (secret.clone(), now));
        secret
    }

    /// The secret being enrolled for `user_id`, if the enrolment has not expired.
    pub fn enrolment(&self, user_id: &str, now: Instant) -> Option<String> {
        lock(&self.enrolments)
            .get(user_id)
            .filter(|(_, t)| now.saturating_duration_since(*t) < PENDING_ENROLMENT)
            .map(|(s, _)| s.clone())
    }

    pub fn end_enrolment(&self, user_id: &str) {
        lock(&self.enrolments).remove(user_id);
    }

    /// Checks `code` against `secret_b32` for `user_id` at `unix_secs`; a code of a step at or
    /// before the newest one this account used is refused (replayed). Accepting marks the step.
    pub fn check(&self, user_id: &str, secret_b32: &str, code: &str, unix_secs: u64) -> bool {
        let Some(key) = base32_decode(secret_b32).filter(|k| !k.is_empty()) else {
            log::warn!("console user {user_id}: stored TOTP secret is not base32");
            return false;
        };
        let Some(step) = verify(&key, code, unix_secs) else {
            return false;
        };
        let mut used = lock(&self.used);
        if used.get(user_id).is_some_and(|last| step <= *last) {
            return false;
        }
        used.insert(user_id.to_owned(), step);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the 20-byte ASCII key "12345678901234567890".
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_test_vectors() {
        for (t, code8) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(RFC_KEY, step_at(t), 8), code8, "T = {t}");
            // The 6-digit code is the low 6 digits of the same truncation.
            assert_eq!(code_at(RFC_KEY, t), format!("{:06}", code8 % 1_000_000));
        }
    }

    #[test]
    fn rfc4226_hotp_test_vectors() {
        let expect = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in expect.into_iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), code, "counter {counter}");
        }
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_only() {
        let t = 1_234_567_890;
        let now = code_at(RFC_KEY, t);
        assert_eq!(verify(RFC_KEY, &now, t), Some(step_at(t)));
        assert_eq!(verify(RFC_KEY, &format!(" {now} "), t), Some(step_at(t)));
        let early = code_at(RFC_KEY, t - 30);
        let late = code_at(RFC_KEY, t + 30);
        assert_eq!(verify(RFC_KEY, &early, t), Some(step_at(t) - 1));
        assert_eq!(verify(RFC_KEY, &late, t), Some(step_at(t) + 1));
        assert_eq!(verify(RFC_KEY, &code_at(RFC_KEY, t - 60), t), None);
        assert_eq!(verify(RFC_KEY, &code_at(RFC_KEY, t + 60), t), None);
        for bad in ["", "12345", "1234567", "12a456", "８９００５９"] {
            assert_eq!(verify(RFC_KEY, bad, t), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"fooba"), "MZXW6YTB");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_encode(RFC_KEY), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            RFC_KEY
        );
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1W"), None);
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_decode(&s).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn otpauth_uri_names_the_account_and_parameters() {
        let uri = otpauth_uri("door-1", "ann@ward", "GEZDGNBV");
        assert_eq!(
            uri,
            "otpauth://totp/Wardgate:ann%40ward%40door-1?secret=GEZDGNBV&issuer=Wardgate&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn a_code_is_accepted_once_and_older_steps_never_again() {
        let st = TotpState::default();
        let secret = base32_encode(RFC_KEY);
        let t = 1_111_111_111;
        let code = code_at(RFC_KEY, t);
        assert!(st.check("u1", &secret, &code, t));
        assert!(!st.check("u1", &secret, &code, t), "replayed");
        assert!(
            !st.check("u1", &secret, &code_at(RFC_KEY, t - 30), t),
            "an older step after a newer one"
        );
        assert!(st.check("u2", &secret, &code, t), "per account");
        assert!(st.check("u1", &secret, &code_at(RFC_KEY, t + 30), t + 30));
        assert!(!st.check("u1", "not base32!", &code, t));
    }

    #[test]
    fn pending_logins_are_single_use_and_expire() {
        let st = TotpState::default();
        let t0 = Instant::now();
        let tok = st.start_login("u1", "ann", TokenRole::Admin, t0);
        assert!(st.take_login("forged", t0).is_none());
        let p = st.take_login(&tok, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!((p.user_id.as_str(), p.role), ("u1", TokenRole::Admin));
        assert!(st.take_login(&tok, t0).is_none(), "single use");
        let tok = st.start_login("u1", "ann", TokenRole::Admin, t0);
        assert!(st.take_login(&tok, t0 + PENDING_LOGIN).is_none(), "expired");
        let secret = st.start_enrolment("u1", t0);
        assert_eq!(st.enrolment("u1", t0).as_deref(), Some(secret.as_str()));
        assert!(st.enrolment("u1", t0 + PENDING_ENROLMENT).is_none());
        st.end_enrolment("u1");
        assert!(st.enrolment("u1", t0).is_none());
    }
}
