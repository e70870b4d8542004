//! Console sessions (in memory) and login throttling.
//!
//! Why in memory: a session is a short-lived, per-controller thing (15 minutes idle by
//! default); keeping it out of the database means a login works while the database is down
//! and a stolen database holds no live session. A restart logs everyone out, which on a door
//! controller is acceptable. The cookie carries 256 random bits; only their SHA-256 is kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::model::TokenRole;

/// A logged-in person.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user_id: String,
    pub name: String,
    pub role: TokenRole,
    /// The anti-CSRF token every state-changing request of this session must carry
    /// (`X-CSRF-Token` header or `csrf` form field).
    pub csrf: String,
    last_seen: Instant,
}

/// All sessions of this controller.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    by_hash: Mutex<HashMap<String, Session>>,
}

/// SHA-256 of a secret handed to the browser: only this is kept in memory.
pub(crate) fn digest(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_hash
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session; returns the cookie value (shown to the browser only) and the session.
    pub fn create(
        &self,
        user_id: &str,
        name: &str,
        role: TokenRole,
        now: Instant,
    ) -> (String, Session) {
        let cookie = random_token();
        let s = Session {
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            role,
            csrf: random_token(),
            last_seen: now,
        };
        let mut map = self.map();
        let idle = self.idle;
        map.retain(|_, s| now.duration_since(s.last_seen) < idle);
        map.insert(digest(&cookie), s.clone());
        (cookie, s)
    }

    /// The live session of this cookie, refreshed; an idle one is ended and `None`.
    pub fn get(&self, cookie: &str, now: Instant) -> Option<Session> {
        let key = digest(cookie);
        let mut map = self.map();
        let s = map.get_mut(&key)?;
        if now.saturating_duration_since(s.last_seen) >= self.idle {
            map.remove(&key);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session of this cookie (logout).
    pub fn end(&self, cookie: &str) -> Option<Session> {
        self.map().remove(&digest(cookie))
    }

    /// Ends every session of a user (account deleted).
    pub fn end_user(&self, user_id: &str) {
        self.map().retain(|_, s| s.user_id != user_id);
    }
}

/// Counts failed logins per key (account name, client address) over a sliding window.
#[derive(Debug)]
pub struct LoginThrottle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(retry_after)` when any of `keys` has used up its failures in the window.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut map = self.map();
        let mut wait = None::<Duration>;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= self.max as usize {
                    let oldest = q.front().copied().unwrap_or(now);
                    let left = self
                        .window
                        .saturating_sub(now.saturating_duration_since(oldest));
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        map.retain(|_, q| !q.is_empty());
        wait.map_or(Ok(()), Err)
    }

    pub fn fail(&self, keys: &[String], now: Instant) {
        let mut map = self.map();
        for k in keys {
            map.entry(k.clone()).or_default().push_back(now);
        }
    }

    /// A successful login clears the account's count (not the address's).
    pub fn clear(&self, key: &str) {
        self.map().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_refresh_on_use() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (cookie, sess) = s.create("u1", "ann", TokenRole::Technician, t0);
        assert_eq!(sess.csrf.len(), 43);
        assert!(s.get(&cookie, t0 + Duration::from_secs(59)).is_some());
        // The use at 59 s refreshed it: still alive at 118 s.
        assert!(s.get(&cookie, t0 + Duration::from_secs(118)).is_some());
        assert!(s.get(&cookie, t0 + Duration::from_secs(178)).is_none());
        assert!(
            s.get(&cookie, t0 + Duration::from_secs(179)).is_none(),
            "ended for good"
        );
        assert!(s.get("forged", t0).is_none());
    }

    #[test]
    fn logout_and_user_removal_end_sessions() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, _) = s.create("u1", "ann", TokenRole::Admin, t0);
        let (b, _) = s.create("u1", "ann", TokenRole::Admin, t0);
        let (c, _) = s.create("u2", "bob", TokenRole::Technician, t0);
        assert_eq!(s.end(&a).map(|x| x.name), Some("ann".into()));
        assert!(s.get(&a, t0).is_none());
        s.end_user("u1");
        assert!(s.get(&b, t0).is_none());
        assert!(s.get(&c, t0).is_some());
    }

    #[test]
    fn throttle_refuses_after_max_failures_until_the_window_passes() {
        let t = LoginThrottle::new(3, Duration::from_secs(300));
        let t0 = Instant::now();
        let keys = vec!["user:ann".to_owned(), "ip:10.0.0.9".to_owned()];
        for i in 0..3 {
            assert!(t.check(&keys, t0 + Duration::from_secs(i)).is_ok());
            t.fail(&keys, t0 + Duration::from_secs(i));
        }
        let wait = t.check(&keys, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(290));
        // Another name from the same address is refused too; another address for another name is not.
        assert!(t
            .check(&["user:bob".into(), "ip:10.0.0.9".into()], t0)
            .is_err());
        assert!(t
            .check(&["user:bob".into(), "ip:10.0.0.8".into()], t0)
            .is_ok());
        assert!(t.check(&keys, t0 + Duration::from_secs(301)).is_ok());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
