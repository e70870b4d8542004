//! Command-line tools beside `wardgate run`: an edge like the API, reading the whole
//! configuration and calling into the core.
//!
//! | file | what lives there |
//! |---|---|
//! | [`audit_export`] | `wardgate audit export` and `audit verify --file`: signed, offline-verifiable exports |
//! | [`check_matching`] | what `check-config` prints about the threshold in force |
//! | [`check_camera`] | `wardgate check-camera` |
//! | [`consent`] | `wardgate consent`: record, show, withdraw a person's consent |
//! | [`keys`] | `wardgate keys`: generate, status and rotate the template keys |
//! | [`photos`] | `wardgate enroll` and `wardgate identify` |
//! | [`privacy`] | `wardgate privacy purge`: the retention job now, or its dry run |

pub mod audit_export;
pub mod check_camera;
pub mod check_matching;
pub mod consent;
pub mod keys;
pub mod photos;
pub mod privacy;

pub use check_camera::check_camera;
