//! # Wardgate — face-recognition door controller firmware
//!
//! One process (`wardgate run`) sees through a V4L2 camera, recognises faces with TFLite
//! models, decides with the access policy, drives the door relay over GPIO and serves a local
//! REST + WebSocket API backed by MySQL (hospital deployments) or SQLite (single door, demo).
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`config`] | TOML file + `WARDGATE_<SECTION>__<KEY>` overrides, defaults, validation |
//! | [`model`] | the domain types shared by store, API and policy (subjects, grants, doors, …) |
//! | [`store`] | repository over sqlx (`Any` driver): one query set for MySQL and SQLite |
//! | [`catalog`] | the snapshot (directory + gallery) the door decides from, swapped on change |
//! | [`change_feed`] | reads the store's change versions (≤ 1 s) and applies what moved to catalog and tokens |
//! | [`gallery`] | in-memory 1:N search over L2-normalised templates; the door decides from it |
//! | [`access`] | the pure access policy (`decide`), the doctor→patient two-person rule, and the one decision service every channel goes through (`decider`) |
//! | [`audit`] | SHA-256 hash chain over decision events; verification |
//! | [`events`] | event sink: seal, local fsynced journal (group commit), broadcast, store |
//! | [`api`] | axum router: `/api/v1`, the original `/register_face`, `/create_access`, `/ws/auth`; abuse limits |
//! | [`matching`] | the open-set operating point: threshold for the gallery size, margin rule, aggregation |
//! | [`eval`] | `wardgate eval`: 1:1 and 1:N accuracy through the door's own code |
//! | [`vision`] | LiteRT models: detect → align → embed, quality |
//! | [`liveness`] | is the face live: the random head-movement challenge, 3-D motion check, passive watch, near-infrared cross-check |
//! | [`audio`] | the door's prompts spoken through ALSA (`[audio]`) |
//! | [`camera`] | `FrameSource`: V4L2 capture and replay |
//! | [`door`] | relay/inputs over GPIO and the door controller state machine |
//! | [`pipeline`] | the door loop: camera frames → face tracks → decisions → door + events; stage timings |
//! | [`tls`] | HTTPS (rustls): the board's certificate and its fingerprint, client certificates, the accept loop |
//! | [`console`] | web console: accounts (argon2id, optional TOTP second factor), sessions + CSRF, pages, Live camera view |
//! | [`app`] | wiring, start-up (migrate, bootstrap), shutdown |
//! | [`logging`] | journald when under systemd, stderr otherwise |
//! | [`service`] | systemd integration: `sd_notify` READY/STATUS/STOPPING, watchdog over component heartbeats |
//! | `test_support` | (tests only) fixtures shared by several modules' unit tests |

pub mod access;
pub mod api;
pub mod app;
pub mod audio;
pub mod audit;
pub mod camera;
pub mod catalog;
pub mod change_feed;
pub mod config;
pub mod console;
pub mod door;
pub mod eval;
pub mod events;
pub mod gallery;
pub mod liveness;
pub mod logging;
pub mod matching;
pub mod model;
pub mod pipeline;
pub mod service;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod tls;
pub mod vision;
