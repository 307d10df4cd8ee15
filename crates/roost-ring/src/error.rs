//! Why a ring could not be built or changed. Building a ring is pure, so none of these
//! is ever retryable: each names a mistake in the node list the caller supplied.

use crate::node::NodeId;

/// An invalid node list, or a change that does not apply to this ring.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("node {0} appears more than once")]
    DuplicateNode(NodeId),
    #[error("node {0} has weight 0")]
    ZeroWeight(NodeId),
    #[error("node id is empty")]
    EmptyId,
    #[error("node {0} is not on the ring")]
    UnknownNode(NodeId),
    /// The weights add up to more virtual nodes than the ring is allowed to hold,
    /// which bounds its memory (about 14 bytes per point).
    #[error("the weights need {points} ring points, more than the limit of {max}")]
    TooManyPoints { points: u64, max: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_node_and_are_lower_case() {
        let id = NodeId::from("shard-2");
        assert_eq!(
            RingError::DuplicateNode(id.clone()).to_string(),
            "node shard-2 appears more than once"
        );
        assert_eq!(
            RingError::ZeroWeight(id.clone()).to_string(),
            "node shard-2 has weight 0"
        );
        assert_eq!(
            RingError::UnknownNode(id).to_string(),
            "node shard-2 is not on the ring"
        );
        assert_eq!(RingError::EmptyId.to_string(), "node id is empty");
        assert_eq!(
            RingError::TooManyPoints { points: 10, max: 5 }.to_string(),
            "the weights need 10 ring points, more than the limit of 5"
        );
    }
}
