//! When a face counts as a match: the open-set operating point for the current gallery.
//!
//! A fixed similarity threshold gives a fixed false-accept rate per comparison (FAR), but a
//! stranger at the door is compared with *every* enrolled template, so the share of strangers
//! matched to somebody grows with the gallery: FPIR ≈ N × FAR. A door with 5,000 staff at a
//! threshold tuned for 50 matches a hundred times more strangers. The policy here fixes the
//! FPIR instead (`matching.target_fpir`) and converts it, for the current number of templates,
//! into a threshold through the impostor score distribution measured once per embedder
//! ([`calibration`]); `matching.threshold` stays a floor the threshold never goes below, and a
//! margin rule (best identity vs the second-best identity) drops the ambiguous matches that
//! dominate false matches in large galleries.
//!
//! | module | what |
//! |---|---|
//! | [`policy`] | [`OperatingPoint`]: threshold + margin for a gallery, with the reason |
//! | [`calibration`] | the measured impostor tail per embedder: FAR → threshold |
//! | [`aggregate`] | quality-weighted mean of several embeddings of one face |

pub mod aggregate;
pub mod calibration;
pub mod config;
pub mod policy;

pub use aggregate::{aggregate, quality_weight};
pub use config::MatchingConfig;
pub use policy::{OperatingPoint, ThresholdReason};
