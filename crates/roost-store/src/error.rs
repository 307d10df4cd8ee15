//! The store's error enum. Only writes can fail, and only for a reason that the
//! caller caused (a value too big for any shard, a key of another type), so
//! nothing here is retryable.

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The entry would weigh more than one shard may hold, so no eviction could make room.
    #[error("entry of {weight} bytes exceeds the shard capacity of {shard_capacity} bytes")]
    EntryTooLarge {
        /// What the entry would be charged, in [`crate::entry_weight`] bytes.
        weight: u64,
        /// The capacity of the shard it was written to.
        shard_capacity: u64,
    },
    /// The key holds a value of another type than the write works on (a
    /// string where a list is pushed, a hash where a set is added to).
    #[error("the key holds a value of another type")]
    WrongType,
}

impl StoreError {
    /// Whether trying the same request again (here or on another node) could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::EntryTooLarge { .. } | StoreError::WrongType => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_lower_case_with_numbers_and_not_retryable() {
        let err = StoreError::EntryTooLarge {
            weight: 2048,
            shard_capacity: 1024,
        };
        assert_eq!(
            err.to_string(),
            "entry of 2048 bytes exceeds the shard capacity of 1024 bytes"
        );
        assert!(!err.is_retryable());
    }
}
