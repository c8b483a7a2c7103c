//! Whole-system tests of Cairn: one test binary with a module per area.

mod api_diff;
mod config_diff;
mod crash;
mod exemplars;
mod exposition;
mod format_compat;
mod peer;
mod promql_diff;
mod promql_engine;
mod read_client;
mod relabel_diff;
mod remote;
mod remote_loss;
mod remote_metadata;
mod remote_write_out;
mod scrape;
mod scrape_diff;
mod tsdb;
mod web;
mod webconfig;

/// A small deterministic PRNG (xorshift64*) so failures reproduce from the printed seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `CAIRN_TEST_SEED` or the clock; prints the seed.
    pub fn from_env(name: &str) -> Rng {
        let seed = std::env::var("CAIRN_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("{name}: CAIRN_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}
