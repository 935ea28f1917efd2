//! The pauses between two attempts at the flock.

use std::time::{Duration, SystemTime};

/// The first pause after a failed attempt; each further pause doubles it.
const FIRST_BACKOFF: Duration = Duration::from_micros(50);

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// The pauses between attempts: 50 us, doubling, capped at 2 ms, each shortened by
/// up to a quarter at random so that waiters of different processes do not retry
/// in lockstep. (The original 5 -> 50 ms schedule left waiters asleep through
/// hundreds of other writes and starved them; BENCHMARKS.md has the figures.)
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            next: FIRST_BACKOFF,
            seed: u64::from(nanos) ^ (u64::from(super::holder::pid()) << 32) | 1,
        }
    }

    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        // xorshift64: jitter needs no statistical quality, only variety.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        pause - pause / 4 * (self.seed % 1024) as u32 / 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_50us_doubles_and_caps_at_2ms_with_bounded_jitter() {
        let nominal_us = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000];
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut backoff = Backoff::new();
            for nominal in nominal_us {
                let pause = backoff.next_pause().as_micros() as u64;
                assert!(
                    pause <= nominal && pause >= nominal * 3 / 4,
                    "{pause} vs {nominal}"
                );
                distinct.insert(pause);
            }
        }
        assert!(
            distinct.len() > nominal_us.len(),
            "jittered, not a fixed schedule"
        );
    }
}
