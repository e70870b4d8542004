//! Audit chain.
