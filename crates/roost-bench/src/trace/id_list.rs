//! A doubly linked list threaded through arrays indexed by dense key id: the one
//! structure the exact reference simulators (LRU, ARC, LIRS) are built from.
//!
//! The front is the most recent end, the back the next victim. Every operation is
//! O(1) and allocation-free after construction; memory is three arrays of `unique`.

const NONE: u32 = u32::MAX;

/// Ids `0..unique`, each on the list at most once.
#[derive(Debug, Clone)]
pub struct IdList {
    prev: Vec<u32>,
    next: Vec<u32>,
    member: Vec<bool>,
    head: u32,
    tail: u32,
    len: usize,
}

impl IdList {
    /// An empty list for ids below `unique`.
    pub fn new(unique: usize) -> Self {
        Self {
            prev: vec![NONE; unique],
            next: vec![NONE; unique],
            member: vec![false; unique],
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, id: u32) -> bool {
        self.member[id as usize]
    }

    /// The least recent id, if any.
    pub fn back(&self) -> Option<u32> {
        (self.tail != NONE).then_some(self.tail)
    }

    /// Puts `id` at the front, taking it from where it was if it was on the list.
    pub fn push_front(&mut self, id: u32) {
        if self.contains(id) {
            self.remove(id);
        }
        self.prev[id as usize] = NONE;
        self.next[id as usize] = self.head;
        match self.head {
            NONE => self.tail = id,
            head => self.prev[head as usize] = id,
        }
        self.head = id;
        self.member[id as usize] = true;
        self.len += 1;
    }

    /// Takes `id` off the list; returns whether it was on it.
    pub fn remove(&mut self, id: u32) -> bool {
        if !self.contains(id) {
            return false;
        }
        let (prev, next) = (self.prev[id as usize], self.next[id as usize]);
        match prev {
            NONE => self.head = next,
            prev => self.next[prev as usize] = next,
        }
        match next {
            NONE => self.tail = prev,
            next => self.prev[next as usize] = prev,
        }
        self.member[id as usize] = false;
        self.len -= 1;
        true
    }

    /// Takes the least recent id off the list.
    pub fn pop_back(&mut self) -> Option<u32> {
        let back = self.back()?;
        self.remove(back);
        Some(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recency_order_and_membership() {
        let mut list = IdList::new(4);
        for id in [0, 1, 2] {
            list.push_front(id);
        }
        list.push_front(0); // 0 is most recent again: back is 1
        assert_eq!((list.len(), list.back()), (3, Some(1)));
        assert!(list.remove(2) && !list.remove(2) && !list.contains(2));
        assert_eq!(list.pop_back(), Some(1));
        assert_eq!(list.pop_back(), Some(0));
        assert!(list.is_empty() && list.pop_back().is_none());
    }
}
