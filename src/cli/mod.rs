//! Command-line tools beside `wardgate run`: an edge like the API, reading the whole
//! configuration and calling into the core.
//!
//! | file | what lives there |
//! |---|---|
//! | [`check_matching`] | what `check-config` prints about the threshold in force |
//! | [`check_camera`] | `wardgate check-camera` |
//! | [`photos`] | `wardgate enroll` and `wardgate identify` |

pub mod check_camera;
pub mod check_matching;
pub mod photos;

pub use check_camera::check_camera;
