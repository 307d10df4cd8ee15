//! A list: a `VecDeque` of elements.

use std::collections::VecDeque;

use super::owned;

/// Bytes an element costs beyond its bytes: its slot in the deque (a boxed
/// slice) with the ring buffer's spare capacity, measured by
/// `examples/collection_overhead.rs` (600 to 2,100 elements of 8 and 16
/// bytes: 16.0 .. 31.2 bytes counted), plus 16 for its allocation's malloc
/// header; the worst point rounded up.
pub(crate) const ELEMENT_OVERHEAD_BYTES: u64 = 48;

#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
    bytes: u64,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Element bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.bytes += item.len() as u64;
        self.items.push_front(owned(item));
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.bytes += item.len() as u64;
        self.items.push_back(owned(item));
    }

    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        let item = self.items.pop_front()?;
        self.bytes -= item.len() as u64;
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let item = self.items.pop_back()?;
        self.bytes -= item.len() as u64;
        Some(item)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|item| &item[..])
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        let Some(slot) = self.items.get_mut(index) else {
            return false;
        };
        self.bytes = self.bytes - slot.len() as u64 + item.len() as u64;
        *slot = owned(item);
        true
    }

    /// Inserts `item` so that it ends up at `index` (at most `len`).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        self.bytes += item.len() as u64;
        self.items.insert(index, owned(item));
    }

    pub fn remove(&mut self, index: usize) -> Option<Box<[u8]>> {
        let item = self.items.remove(index)?;
        self.bytes -= item.len() as u64;
        Some(item)
    }

    /// Keeps the elements at `start..end` (clamped) and drops the rest.
    pub fn keep_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        let start = start.min(end);
        self.items.truncate(end);
        self.items.drain(..start);
        self.bytes = self.items.iter().map(|i| i.len() as u64).sum();
    }

    /// Keeps the elements `keep` answers true for, in order; answers how
    /// many were removed.
    pub fn retain_indexed(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let before = self.items.len();
        let mut at = 0;
        let mut freed = 0;
        self.items.retain(|item| {
            let kept = keep(at, item);
            at += 1;
            if !kept {
                freed += item.len() as u64;
            }
            kept
        });
        self.bytes -= freed;
        before - self.items.len()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|item| &item[..])
    }

    /// The elements at `start..end` (clamped), in order.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        let end = end.min(self.items.len());
        let start = start.min(end);
        self.items.range(start..end).map(|item| &item[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_pops_and_trims_keep_the_byte_count() {
        let mut l = List::default();
        for item in [&b"a"[..], b"bb", b"ccc", b"dddd"] {
            l.push_back(item);
        }
        l.push_front(b"z");
        assert_eq!(l.bytes(), 11);
        assert_eq!(l.pop_back().as_deref(), Some(&b"dddd"[..]));
        l.keep_range(1, 3);
        let kept: Vec<_> = l.iter().collect();
        assert_eq!(kept, [&b"a"[..], b"bb"]);
        assert_eq!(l.bytes(), 3);
        assert_eq!(l.retain_indexed(|_, item| item != b"a"), 1);
        assert_eq!(l.bytes(), 2);
    }
}
