//! Time, read in one place. Verifiers take a [`UnixTime`] argument; only
//! [`SystemClock`] reads the system time, and [`FixedClock`] lets tests and the test
//! vectors pin it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// This time plus `seconds`, saturating.
    pub fn plus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// This time minus `seconds`, saturating at the epoch.
    pub fn minus(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(seconds))
    }

    /// This time rounded up to a multiple of `window` seconds (itself when `window` is
    /// 0): signing with `now.plus(ttl).round_up(window)` gives the same URL for a whole
    /// window, so browser and CDN caches can keep it.
    pub fn round_up(self, window: u64) -> UnixTime {
        if window == 0 {
            return self;
        }
        UnixTime(self.0.div_ceil(window).saturating_mul(window))
    }

    /// RFC 3339 form for people (`explain`, logs); never used in signed bytes.
    pub fn to_rfc3339(self) -> String {
        let time = UNIX_EPOCH + std::time::Duration::from_secs(self.0);
        humantime::format_rfc3339_seconds(time).to_string()
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        // A clock before 1970 is treated as the epoch: everything looks expired.
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        UnixTime(seconds)
    }
}

/// A clock that always answers the same time.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub UnixTime);

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_to_a_window() {
        assert_eq!(UnixTime(1001).round_up(600), UnixTime(1200));
        assert_eq!(UnixTime(1200).round_up(600), UnixTime(1200));
        assert_eq!(UnixTime(1199).round_up(0), UnixTime(1199));
    }
}
