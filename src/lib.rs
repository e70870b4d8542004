//! # Wardgate — face-recognition door controller firmware
//!
//! One process (`wardgate run`) sees through a V4L2 camera, recognises faces with TFLite
//! models, decides with the access policy, drives the door relay over GPIO and serves a local
//! REST + WebSocket API backed by MySQL (hospital deployments) or SQLite (single door, demo).
//!
//! # Layout
//!
//! Four layers. **Edges import the core; the core never imports an edge** (`tests/layers.rs`
//! reads the sources and fails when a core or leaf file names an edge or wiring module).
//!
//! ```text
//!  wiring   app · config · service · logging            builds the core, starts the edges, stops both
//!    │
//!  edges    api · console · pipeline · cli · eval · audio · tls
//!    │        each holds an Arc<Controller> and translates its protocol into the core's types
//!    ▼
//!  core     controller ─ access (presented → decide) · catalog · change_feed · tokens · events
//!           presentation · privacy · store · gallery · matching · vision · liveness · camera · door
//!           credentials
//!    │
//!  leaf     model · audit · clock · config_error · tasks
//! ```
//!
//! | module | layer | what lives there |
//! |---|---|---|
//! | [`model`] | leaf | the domain types shared by store, API and policy (subjects, grants, doors, …) |
//! | [`audit`] | leaf | SHA-256 hash chain over decision events; verification |
//! | [`clock`] | leaf | the one source of "now": system clock in service, a hand-moved one in tests |
//! | [`config_error`] | leaf | the error every section's validation returns, naming the key |
//! | [`tasks`] | leaf | owned long-lived tasks with stop signals, stopped in order |
//! | [`controller`] | core | the core: owns catalog, decision service, events, door, board, tokens, change feed, clock, tasks; ordered shutdown |
//! | [`access`] | core | what is presented (`presented`: people, factors, liveness), the pure policy, the factor rules (`factors`: face/badge/PIN modes, schedules, the window), the one decision service (`decider`) |
//! | [`catalog`] | core | the snapshot (directory + gallery) the door decides from, swapped on change |
//! | [`change_feed`] | core | reads the store's change versions (≤ 1 s) and applies what moved to catalog and tokens |
//! | [`tokens`] | core | API token hashing and the valid-token cache (a miss is looked up in the store) |
//! | [`events`] | core | event sink: seal, local fsynced journal (group commit), broadcast, store |
//! | [`presentation`] | core | what the person at the door is told: the door display's board |
//! | [`privacy`] | core | biometric privacy: the template keys, sealing and opening each template (XChaCha20-Poly1305, bound to its ids), consent, the retention job |
//! | [`store`] | core | repository over sqlx (`Any` driver): one query set for MySQL and SQLite; `[database]` |
//! | [`gallery`] | core | in-memory 1:N search over L2-normalised templates; the door decides from it |
//! | [`matching`] | core | the open-set operating point: threshold for the gallery size, margin rule, aggregation |
//! | [`vision`] | core | LiteRT models: detect → align → embed, quality |
//! | [`liveness`] | core | is the face live: the random head-movement challenge, 3-D motion check, passive watch, near-infrared cross-check |
//! | [`camera`] | core | `FrameSource`: V4L2 capture and replay |
//! | [`door`] | core | relay/inputs over GPIO and the door controller state machine |
//! | [`credentials`] | core | second factors: Wiegand frames, keypad entries (badge numbers, PINs that never print), PIN rules, duress, lock-out |
//! | [`api`] | edge | axum router: `/api/v1`, the original `/register_face`, `/create_access`, `/ws/auth`; abuse limits |
//! | [`console`] | edge | web console: accounts (argon2id, optional TOTP second factor), sessions + CSRF, pages, Live camera view |
//! | [`pipeline`] | edge | the camera door loop: frames → face tracks → presentations → the core's decision; stage timings |
//! | [`cli`] | edge | `check-config`'s matching lines, `check-camera`, `enroll`, `identify` |
//! | [`eval`] | edge | `wardgate eval`: 1:1 and 1:N accuracy and liveness through the door's own code |
//! | [`audio`] | edge | the door's prompts spoken through ALSA (`[audio]`) |
//! | [`tls`] | edge | HTTPS (rustls): the board's certificate and its fingerprint, client certificates, the accept loop |
//! | [`config`] | wiring | TOML file + `WARDGATE_<SECTION>__<KEY>` overrides; gathers every layer's section |
//! | [`app`] | wiring | start-up (migrate, bootstrap, build the core), the edges, shutdown in order |
//! | [`logging`] | wiring | journald when under systemd, stderr otherwise |
//! | [`service`] | wiring | systemd integration: `sd_notify` READY/STATUS/STOPPING, watchdog over component heartbeats |
//! | `test_support` | core | (tests only) fixtures shared by several modules' unit tests |

pub mod access;
pub mod api;
pub mod app;
pub mod audio;
pub mod audit;
pub mod camera;
pub mod catalog;
pub mod change_feed;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_error;
pub mod console;
pub mod controller;
pub mod credentials;
pub mod door;
pub mod eval;
pub mod events;
pub mod gallery;
pub mod liveness;
pub mod logging;
pub mod matching;
pub mod model;
pub mod pipeline;
pub mod presentation;
pub mod privacy;
pub mod service;
pub mod store;
pub mod tasks;
#[cfg(test)]
mod test_support;
pub mod tls;
pub mod tokens;
pub mod vision;
