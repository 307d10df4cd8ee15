//! Geographic coherence (issue 16; docs/regions.md): every region keeps its
//! own cache; each acknowledged write is versioned (a hybrid logical clock),
//! appended to this region's durable change log before the client is
//! answered, and pulled by every other region, which applies it only if it is
//! newer than what the key holds there.

pub mod cursors;
pub mod log;
