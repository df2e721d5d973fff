//! Value evolution, one step per scrape round: counters grow (float with 0.01 resolution or
//! Poisson integers), gauges walk within bounds, histograms stay cumulative-consistent.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::catalogue::{Catalogue, Kind, HIST_MID, HIST_P};

/// Standard normal variate (Box-Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn lognormal(rng: &mut impl Rng, mu: f64, sigma: f64) -> f64 {
    (mu + sigma * normal(rng)).exp()
}

/// Poisson variate: exact (Knuth) for small means, normal approximation above 30.
pub fn poisson(rng: &mut impl Rng, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0);
    }
    let limit = (-mean).exp();
    let mut k = 0.0;
    let mut p = rng.random::<f64>();
    while p > limit {
        k += 1.0;
        p *= rng.random::<f64>();
    }
    k
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (v * m).round() / m
}

/// The current value of every catalogue series; [`Simulator::step`] advances one scrape.
pub struct Simulator<'c> {
    cat: &'c Catalogue,
    rng: StdRng,
    dt: f64,
    values: Vec<f64>,
    histogram_values: Vec<f64>,
}

impl<'c> Simulator<'c> {
    pub fn new(cat: &'c Catalogue, seed: u64, interval_s: f64) -> Self {
        let values: Vec<f64> = cat.series.iter().map(|s| s.init).collect();
        // histogram members past the catalogue cut still evolve (from zero), in their own array
        let histogram_values = cat
            .histograms
            .iter()
            .flat_map(|h| h.buckets.iter().chain([&h.sum, &h.count]))
            .map(|&i| values.get(i).copied().unwrap_or(0.0))
            .collect();
        Simulator {
            cat,
            rng: StdRng::seed_from_u64(seed),
            dt: interval_s,
            values,
            histogram_values,
        }
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Advances every series by one scrape interval.
    pub fn step(&mut self) {
        let (rng, dt) = (&mut self.rng, self.dt);
        for (v, s) in self.values.iter_mut().zip(&self.cat.series) {
            *v = match s.kind {
                Kind::Const | Kind::Histogram => *v,
                Kind::CounterFloat { rate } => {
                    let inc = rate * dt * (1.0 + 0.3 * normal(rng));
                    round_to(*v + round_to(inc.max(0.0), 2), 2)
                }
                Kind::CounterInt { rate } => *v + poisson(rng, rate * dt),
                Kind::GaugeIntWalk { step, lo, hi } => {
                    let pages = (step * normal(rng)).round();
                    (*v + 4096.0 * pages).clamp(lo, hi)
                }
                Kind::GaugeFloatWalk { sigma } => round_to((*v + sigma * normal(rng)).max(0.0), 2),
            };
        }
        self.step_histograms();
    }

    /// Requests of one interval split over the bins: independent Poisson counts per bin are
    /// exactly a multinomial split of a Poisson total, so `_count` equals the `+Inf` bucket.
    fn step_histograms(&mut self) {
        for (h, state) in self
            .cat
            .histograms
            .iter()
            .zip(self.histogram_values.chunks_mut(14))
        {
            let mut cumulative = 0.0;
            let mut latency = 0.0;
            for j in 0..12 {
                let n = poisson(&mut self.rng, h.rate * self.dt * HIST_P[h.profile][j]);
                cumulative += n;
                latency += n * HIST_MID[j];
                state[j] += cumulative;
            }
            state[12] = round_to(
                state[12] + latency * (1.0 + 0.05 * normal(&mut self.rng)).max(0.0),
                3,
            );
            state[13] += cumulative;
            let members = h.buckets.iter().chain([&h.sum, &h.count]);
            for (&idx, &v) in members.zip(state.iter()) {
                if let Some(slot) = self.values.get_mut(idx) {
                    *slot = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_and_normal_have_the_right_moments() {
        let mut rng = StdRng::seed_from_u64(1);
        for mean in [0.5, 3.0, 25.0, 1000.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| poisson(&mut rng, mean)).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - mean).abs() < 0.05 * mean + 0.05, "mean {m} vs {mean}");
            assert!((var - mean).abs() < 0.1 * mean + 0.1, "var {var} vs {mean}");
        }
        let xs: Vec<f64> = (0..20_000).map(|_| normal(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03);
    }

    #[test]
    fn counters_never_decrease_gauges_stay_in_bounds_histograms_stay_consistent() {
        let cat = Catalogue::build(4000, 5);
        let mut sim = Simulator::new(&cat, 5, 30.0);
        let mut prev = sim.values().to_vec();
        for _ in 0..20 {
            sim.step();
            for ((s, &now), &before) in cat.series.iter().zip(sim.values()).zip(&prev) {
                match s.kind {
                    Kind::Const => assert_eq!(now, before),
                    Kind::CounterFloat { .. } | Kind::CounterInt { .. } | Kind::Histogram => {
                        assert!(now >= before, "{:?} went {before} -> {now}", s.labels)
                    }
                    Kind::GaugeIntWalk { lo, hi, .. } => assert!((lo..=hi).contains(&now)),
                    Kind::GaugeFloatWalk { .. } => assert!(now >= 0.0),
                }
            }
            for h in cat.histograms.iter().filter(|h| h.count < cat.series.len()) {
                let b: Vec<f64> = h.buckets.iter().map(|&i| sim.values()[i]).collect();
                assert!(b.windows(2).all(|w| w[0] <= w[1]));
                assert_eq!(b[11], sim.values()[h.count]);
            }
            prev = sim.values().to_vec();
        }
    }
}
