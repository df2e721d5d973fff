//! The compactor: per tenant and signal, merges the blocks ingesters uploaded (three copies at
//! RF=3) into larger ones without replica duplicates, applies retention and deletion requests,
//! downsamples old metrics blocks, and keeps the bucket index. Compactors share the work
//! through the `compactor-<signal>` ring.
//!
//! Modules:
