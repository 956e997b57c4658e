//! A room's recent messages, for the history sent on join and for `since`
//! resumes. Deleted messages stay (marked) so offsets stay contiguous.

use std::collections::VecDeque;

use crate::protocol::ChatMessage;

/// Messages sent on a plain join.
pub const JOIN_HISTORY: usize = 50;
/// Messages kept for resumes.
pub const KEPT: usize = 1000;

#[derive(Debug, Clone)]
pub struct Entry {
    pub message: ChatMessage,
    pub deleted: bool,
}

#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
}

impl History {
    /// Entries in offset order, oldest first (as loaded from storage).
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> History {
        let mut history = History::default();
        for entry in entries {
            history.push_entry(entry);
        }
        history
    }

    pub fn push(&mut self, message: ChatMessage) {
        self.push_entry(Entry {
            message,
            deleted: false,
        });
    }

    fn push_entry(&mut self, entry: Entry) {
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The newest offset kept, if any.
    pub fn last_offset(&self) -> Option<u64> {
        self.entries.back().map(|e| e.message.offset)
    }

    /// Marks a message deleted; false when it is not here.
    pub fn delete(&mut self, id: &str) -> bool {
        match self.entries.iter_mut().rev().find(|e| e.message.id == id) {
            Some(entry) => {
                entry.deleted = true;
                true
            }
            None => false,
        }
    }

    pub fn find(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.message.id == id)
    }

    /// The last `JOIN_HISTORY` visible messages, oldest first.
    pub fn recent(&self) -> Vec<&ChatMessage> {
        let mut recent: Vec<&ChatMessage> = self
            .entries
            .iter()
            .rev()
            .filter(|e| !e.deleted)
            .take(JOIN_HISTORY)
            .map(|e| &e.message)
            .collect();
        recent.reverse();
        recent
    }

    /// The visible messages after offset `since`, when nothing after it has
    /// left the history; None when a gap would be left.
    pub fn after(&self, since: u64) -> Option<Vec<&ChatMessage>> {
        let last = self.last_offset().unwrap_or(0);
        if since > last {
            // A client ahead of the room (say, a room numbered anew): no resume.
            return None;
        }
        let oldest = self.entries.front().map_or(last + 1, |e| e.message.offset);
        if since + 1 < oldest {
            return None;
        }
        Some(
            self.entries
                .iter()
                .filter(|e| e.message.offset > since && !e.deleted)
                .map(|e| &e.message)
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Role, User};

    fn message(offset: u64) -> ChatMessage {
        ChatMessage {
            id: format!("m{offset}"),
            user: User {
                name: "ada".into(),
                role: Role::Viewer,
            },
            text: format!("hello {offset}"),
            sent_at: chrono::Utc::now(),
            media_time: None,
            offset,
        }
    }

    fn offsets(messages: &[&ChatMessage]) -> Vec<u64> {
        messages.iter().map(|m| m.offset).collect()
    }

    #[test]
    fn join_history_is_the_last_fifty_visible() {
        let mut history = History::default();
        for offset in 1..=60 {
            history.push(message(offset));
        }
        assert!(history.delete("m60"));
        assert!(!history.delete("nope"));
        let recent = history.recent();
        assert_eq!(recent.len(), 50);
        assert_eq!(recent.first().unwrap().offset, 10);
        assert_eq!(recent.last().unwrap().offset, 59);
    }

    #[test]
    fn resumes_only_without_a_gap() {
        let mut history = History::default();
        for offset in 1..=(KEPT as u64 + 10) {
            history.push(message(offset));
        }
        history.delete("m1008");
        assert_eq!(
            offsets(&history.after(1005).unwrap()),
            vec![1006, 1007, 1009, 1010]
        );
        assert_eq!(history.after(1010).unwrap().len(), 0);
        // Offset 10 is the last that left: a client that saw it misses nothing.
        assert_eq!(history.after(10).unwrap().len(), KEPT - 1);
        assert!(history.after(9).is_none());
        assert!(history.after(5000).is_none());
    }

    #[test]
    fn an_empty_room_resumes_from_zero() {
        let history = History::default();
        assert_eq!(history.after(0).unwrap().len(), 0);
        assert!(history.after(3).is_none());
    }
}
