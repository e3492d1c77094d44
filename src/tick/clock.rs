//! The tick's clock: the time its leases are measured in (epoch milliseconds) and the time
//! its deadline is compared with (an [`Instant`]). It is the system's, plus an offset that
//! only moves forward: a test makes a lease expire, or an invocation run out of time, by
//! moving the clock on, without waiting and without depending on how fast a busy machine
//! runs. Clones share the offset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pipewatch_core::state::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds this clock is ahead of the system's.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// Now, in milliseconds since the Unix epoch.
    pub fn epoch_ms(&self) -> i64 {
        let ahead = i64::try_from(self.ahead_ms.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
        Timestamp::now().unix_millis().saturating_add(ahead)
    }

    /// Now, to compare with a deadline.
    pub fn instant(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.ahead_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and its clones) `by` into the future.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(by, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_moved_on_is_ahead_in_both_measures_and_its_clones_too() {
        let clock = Clock::default();
        let clone = clock.clone();
        let (epoch, instant) = (clock.epoch_ms(), clock.instant());
        clock.advance(Duration::from_hours(1));
        assert!(clone.epoch_ms() - epoch >= 3_600_000);
        assert!(clone.instant() - instant >= Duration::from_hours(1));
    }
}
