//! Which tenant each call goes to: round-robin over `N` tenants (`N`), or a
//! Zipf popularity (`zipf:N`), where the tenant of rank k (`t{k-1}`) gets calls
//! in proportion to 1 / k^1.1, as the popularity of customers on a shared
//! platform tends to be: a few tenants take most calls, and a long tail each
//! calls now and then.

use anyhow::{Context, Result};

/// Zipf's exponent.
const S: f64 = 1.1;

/// How calls pick their tenant.
pub(crate) enum Popularity {
    RoundRobin(usize),
    /// The cumulative share of the tenants of rank 1, 2, ... N.
    Zipf(Vec<f64>),
}

impl Popularity {
    /// `N` or `zipf:N`.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        match text.strip_prefix("zipf:") {
            None => Ok(Self::RoundRobin(text.parse().context("tenants")?)),
            Some(n) => {
                let n: usize = n.parse().context("zipf tenants")?;
                let mut total = 0.0;
                let mut cumulative: Vec<f64> = (1..=n)
                    .map(|k| {
                        total += 1.0 / (k as f64).powf(S);
                        total
                    })
                    .collect();
                for c in &mut cumulative {
                    *c /= total;
                }
                Ok(Self::Zipf(cumulative))
            }
        }
    }

    /// The tenant of connection `index`'s call number `i`; `rng` is the
    /// connection's own generator state.
    pub(crate) fn tenant(
        &self,
        index: usize,
        i: usize,
        connections: usize,
        rng: &mut u64,
    ) -> usize {
        match self {
            Self::RoundRobin(n) => (index + i * connections) % n,
            Self::Zipf(cumulative) => {
                // xorshift64: fast, and good enough to pick tenants.
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                let u = (*rng >> 11) as f64 / (1u64 << 53) as f64;
                cumulative
                    .partition_point(|&c| c < u)
                    .min(cumulative.len() - 1)
            }
        }
    }
}
