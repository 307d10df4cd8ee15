//! Node identity and weight: the only inputs, besides the key, that placement depends on.
//!
//! A [`NodeId`] is an opaque, non-empty string (`"shard-3"`, `"redis://10.0.0.7:6379"`).
//! Its bytes seed the node's points on the ring, so renaming a node moves its keys.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The weight a node gets when the operator gives none.
///
/// Weights are relative: a node of weight 200 owns about twice the hash space of a
/// node of weight 100. The default is 100 rather than 1 so that operators can express
/// fine ratios (150 vs 100) without fractions.
pub const DEFAULT_WEIGHT: u32 = 100;

/// The identity of a node on the ring; cheap to clone (an `Arc<str>`).
///
/// Ordering is by the id's bytes and is what breaks ties between points with equal
/// hashes, so it is part of the placement contract.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Wraps an id. Emptiness is checked when a ring is built, not here, so that
    /// configuration code can report the error with its own context.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        NodeId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(id: &str) -> Self {
        NodeId::new(id)
    }
}

impl From<String> for NodeId {
    fn from(id: String) -> Self {
        NodeId::new(id)
    }
}

impl From<Arc<str>> for NodeId {
    fn from(id: Arc<str>) -> Self {
        NodeId(id)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a `HashMap<NodeId, _>` be queried with a `&str`; sound because `Arc<str>`
/// hashes and compares exactly like the `str` it holds.
impl Borrow<str> for NodeId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A member of the ring: an id and its relative weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub id: NodeId,
    pub weight: u32,
}

impl Node {
    /// A node with an explicit weight; a weight of 0 is rejected when the ring is built.
    pub fn new(id: impl Into<NodeId>, weight: u32) -> Self {
        Node {
            id: id.into(),
            weight,
        }
    }

    /// A node with [`DEFAULT_WEIGHT`].
    pub fn with_default_weight(id: impl Into<NodeId>) -> Self {
        Node::new(id, DEFAULT_WEIGHT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn node_id_displays_and_debugs_as_its_text() {
        let id = NodeId::from("redis://127.0.0.1:7000");
        assert_eq!(id.to_string(), "redis://127.0.0.1:7000");
        assert_eq!(format!("{id:?}"), "\"redis://127.0.0.1:7000\"");
        assert_eq!(id.as_str(), "redis://127.0.0.1:7000");
    }

    #[test]
    fn node_id_orders_by_bytes_and_is_found_by_str_in_maps() {
        let mut ids = [
            NodeId::from("b"),
            NodeId::from(String::from("a")),
            NodeId::from("ab"),
        ];
        ids.sort();
        let names: Vec<&str> = ids.iter().map(NodeId::as_str).collect();
        assert_eq!(names, ["a", "ab", "b"]);

        let map: HashMap<NodeId, u32> = HashMap::from([(NodeId::from("shard-1"), 7)]);
        assert_eq!(map.get("shard-1"), Some(&7));
        assert_eq!(map.get("shard-2"), None);
    }

    #[test]
    fn node_constructors_set_weight() {
        assert_eq!(Node::new("a", 3).weight, 3);
        assert_eq!(Node::with_default_weight("a").weight, DEFAULT_WEIGHT);
        assert_eq!(Node::with_default_weight("a").id, NodeId::from("a"));
    }
}
