//! Pure access decisions.
