//! Counting a connection's recoverable errors so that only the first of
//! each kind gets logged loudly (a publisher sending an unsupported codec or
//! a broken stream must not flood the log).

use std::mem::{Discriminant, discriminant};

/// Error kinds seen on one connection and how many errors in all.
pub(crate) struct ErrorTally<E> {
    seen: Vec<Discriminant<E>>,
    total: u64,
}

impl<E> Default for ErrorTally<E> {
    fn default() -> Self {
        Self {
            seen: Vec::new(),
            total: 0,
        }
    }
}

impl<E> ErrorTally<E> {
    /// Counts `error`; true when it is the first of its kind.
    pub(crate) fn record(&mut self, error: &E) -> bool {
        self.total += 1;
        let kind = discriminant(error);
        if self.seen.contains(&kind) {
            return false;
        }
        self.seen.push(kind);
        true
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_each_kind() {
        let mut tally = ErrorTally::default();
        assert!(tally.record(&Some(1)));
        assert!(!tally.record(&Some(2)));
        assert!(tally.record(&None));
        assert_eq!(tally.total(), 3);
    }
}
