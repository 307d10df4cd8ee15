//! Commands Roost forwards to Redis without interpreting them (data types;
//! see `api/resp/forward.rs`): the cache checks their keys against its
//! limits and hands them to the backend.

use super::Cache;
use crate::backend::{Forwarded, NodeReply};
use crate::error::CacheError;

impl Cache {
    /// Runs `command` on the node that holds its keys; the embedded store
    /// refuses it (`CacheError::NeedsRedis`).
    pub async fn forward(&self, command: Forwarded<'_>) -> Result<NodeReply, CacheError> {
        for key in command.keys {
            self.check_key(key)?;
        }
        self.backend.forward(command).await
    }
}
