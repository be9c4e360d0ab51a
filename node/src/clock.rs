//! The time as a node reads it for the network: when it issues entries, stamps what it
//! receives, and tells peers its time in heads exchanges.
//!
//! It is the system clock. Tests shift it ([`Clock::skewed`], `testing` feature) to play a
//! node whose clock is wrong, and so check that nothing depends on clocks agreeing.

use std::time::{SystemTime, UNIX_EPOCH};

/// A node's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock `offset_ms` ahead of the system's (behind if negative).
    #[cfg(feature = "testing")]
    pub fn skewed(offset_ms: i64) -> Self {
        Self { offset_ms }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let system = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
        u64::try_from(system.saturating_add(self.offset_ms)).unwrap_or(0)
    }
}
