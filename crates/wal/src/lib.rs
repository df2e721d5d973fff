//! Write-ahead log files, shared by the metrics, logs and traces engines: numbered segments,
//! CRC-framed records, torn-tail-aware reading and checkpoint directories. The engines own
//! their record types and payloads; this crate never looks inside a payload.
//!
//! - [`record`]: the framing `[type u8][len u32 LE][crc32 u32 LE][payload]` (CRC over the
//!   payload) and [`WalRecordType`], the engine's type byte.
//! - [`segment`]: segment files `00000001`, `00000002`, ... in one directory, and
//!   [`WalWriter`], which appends framed records, fsyncs and rolls segments.
//! - [`replay`]: reading a directory back (the newest checkpoint, then the later segments),
//!   truncating a torn tail and setting aside what follows corruption.
//! - [`checkpoint`]: `checkpoint.NNNNNNNN` directories written through a `.tmp` directory
//!   and renamed into place ([`WalCheckpointWriter`]), and removing what they replace.
//!
//! On-disk formats are the engines' contract with their data on disk: changing the framing or
//! the names of files here changes every engine's WAL. Test with `cargo test -p sextant-wal`
//! (and the engines' WAL and replay tests).
pub mod checkpoint;
pub mod record;
pub mod replay;
pub mod segment;

pub use checkpoint::{
    checkpoint_min_time, checkpoint_path, latest_checkpoint, remove_incomplete_checkpoints,
    remove_replaced, WalCheckpointWriter, CHECKPOINT_RECORD_TARGET_BYTES,
};
pub use record::{encode_record, WalRecordType, RECORD_HEADER_LEN};
pub use replay::{replay, WalReplayOutcome};
pub use segment::{delete_segments, list_segments, segment_path, WalWriter};

#[cfg(test)]
mod testing;
