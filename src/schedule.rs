//! Noise schedules and the closed-form reverse step of Appendix D.
//!
//! The forward process is x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (the paper's Sec. 3 drops the square root
//! on 1−ᾱ_t: a typo). The posterior q(x_{t−1} | x_t, x_0) has mean
//! μ_t = √ᾱ_{t−1}(1−α_t)/(1−ᾱ_t) x_0 + √α_t(1−ᾱ_{t−1})/(1−ᾱ_t) x_t
//! (Appendix D prints √ᾱ_t in the second coefficient; Ho et al. and the derivation give √α_t)
//! and variance β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)(1−α_t), so a reverse step adds √β̃_t ε
//! (Algorithm 1 prints β_t ε: the other typo).

use crate::error::{Error, Result};

/// A variance schedule β_t = 1 − α_t for t = 1..=T, with its cumulative products.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    betas: Vec<f64>,
    alpha_bars: Vec<f64>,
    /// 1−ᾱ_t kept separately: near ᾱ ≈ 1 the subtraction would lose most digits.
    one_minus_alpha_bars: Vec<f64>,
}

/// The coefficients of one reverse step with ε-parametrisation:
/// z_{t−1} = `z_coef`·z_t + `eps_coef`·ε̂ + `noise_std`·ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReverseStep {
    /// ᾱ_t, the level the denoiser is told.
    pub alpha_bar: f64,
    /// Multiplies z_t.
    pub z_coef: f64,
    /// Multiplies the predicted noise ε̂.
    pub eps_coef: f64,
    /// √β̃_t, the standard deviation of the fresh noise (0 at t = 1).
    pub noise_std: f64,
}

impl Schedule {
    /// The first variance of every schedule (Appendix D and F).
    pub const START: f64 = 1e-6;
    /// The most steps an inference schedule may have.
    pub const MAX_STEPS: u32 = 2000;

    /// Linear 1−α_t from `start` to `end` over `steps` steps. With one step, β_1 = `end`.
    pub fn linear(steps: u32, start: f64, end: f64) -> Result<Self> {
        if steps == 0 || steps > Self::MAX_STEPS {
            return Err(Error::invalid_config(
                "steps",
                steps,
                format!("1 to {} for a diffusion schedule", Self::MAX_STEPS),
            ));
        }
        if !(Self::START..1.0).contains(&end) || !(Self::START..=end).contains(&start) {
            return Err(Error::invalid_config(
                "schedule-end",
                end,
                format!("a final 1−α in [{start:e}, 1) and at least the start"),
            ));
        }
        let betas: Vec<f64> = if steps == 1 {
            vec![end]
        } else {
            let last = f64::from(steps - 1);
            (0..steps)
                .map(|i| start + (end - start) * f64::from(i) / last)
                .collect()
        };
        let log_alpha_bars: Vec<f64> = betas
            .iter()
            .scan(0.0, |sum, beta: &f64| {
                *sum += (-beta).ln_1p();
                Some(*sum)
            })
            .collect();
        Ok(Schedule {
            alpha_bars: log_alpha_bars.iter().map(|l| l.exp()).collect(),
            one_minus_alpha_bars: log_alpha_bars.iter().map(|l| -l.exp_m1()).collect(),
            betas,
        })
    }

    /// The inference schedule: linear 1−α_t from [`Schedule::START`] to `end` over `steps`.
    pub fn inference(steps: u32, end: f64) -> Result<Self> {
        Self::linear(steps, Self::START, end)
    }

    /// T, the number of steps.
    pub fn steps(&self) -> u32 {
        self.betas.len() as u32
    }

    /// ᾱ_t for t in 0..=T (ᾱ_0 = 1).
    pub fn alpha_bar(&self, t: u32) -> f64 {
        if t == 0 {
            1.0
        } else {
            self.alpha_bars[t as usize - 1]
        }
    }

    /// 1−ᾱ_t for t in 0..=T, accurate also where ᾱ_t is close to 1.
    pub fn one_minus_alpha_bar(&self, t: u32) -> f64 {
        if t == 0 {
            0.0
        } else {
            self.one_minus_alpha_bars[t as usize - 1]
        }
    }

    /// The reverse step from t to t−1, for t in 1..=T.
    pub fn reverse_step(&self, t: u32) -> ReverseStep {
        assert!(
            (1..=self.steps()).contains(&t),
            "step {t} outside 1..={}",
            self.steps()
        );
        let beta = self.betas[t as usize - 1];
        let alpha = 1.0 - beta;
        let alpha_bar = self.alpha_bar(t);
        let alpha_bar_prev = self.alpha_bar(t - 1);
        let noise = self.one_minus_alpha_bar(t);
        let noise_prev = self.one_minus_alpha_bar(t - 1);
        // Posterior mean coefficients on x_0 and x_t.
        let x0_coef = alpha_bar_prev.sqrt() * beta / noise;
        let xt_coef = alpha.sqrt() * noise_prev / noise;
        // x̂_0 = (z_t − √(1−ᾱ_t) ε̂) / √ᾱ_t, folded into the mean.
        let inv_sqrt_ab = 1.0 / alpha_bar.sqrt();
        ReverseStep {
            alpha_bar,
            z_coef: x0_coef * inv_sqrt_ab + xt_coef,
            eps_coef: -x0_coef * noise.sqrt() * inv_sqrt_ab,
            noise_std: (noise_prev / noise * beta).sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_endpoints_and_products() {
        let s = Schedule::linear(2000, 1e-6, 0.01).unwrap();
        assert_eq!(s.steps(), 2000);
        assert!((s.betas[0] - 1e-6).abs() < 1e-18);
        assert!((s.betas[1999] - 0.01).abs() < 1e-15);
        // The training schedule ends in (almost) pure noise.
        assert!(s.alpha_bar(2000) < 1e-4);
        let one = Schedule::inference(1, 0.5).unwrap();
        assert!((one.alpha_bar(1) - 0.5).abs() < 1e-15);
        let gentle = Schedule::inference(3, 0.01).unwrap();
        assert!((gentle.one_minus_alpha_bar(1) - 1e-6).abs() < 1e-18);
    }

    #[test]
    fn last_step_returns_the_clean_estimate() {
        let s = Schedule::inference(10, 0.2).unwrap();
        let step = s.reverse_step(1);
        assert_eq!(step.noise_std, 0.0);
        // With ᾱ_0 = 1 the posterior collapses onto x̂_0.
        let ab = step.alpha_bar;
        assert!((step.z_coef - 1.0 / ab.sqrt()).abs() < 1e-12);
        assert!((step.eps_coef + (1.0 - ab).sqrt() / ab.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn rejects_out_of_range_settings() {
        assert!(Schedule::inference(0, 0.1).is_err());
        assert!(Schedule::inference(2001, 0.1).is_err());
        assert!(Schedule::inference(10, 1.0).is_err());
        assert!(Schedule::inference(10, 0.0).is_err());
        let message = Schedule::inference(10, 1.5).unwrap_err().to_string();
        assert!(message.contains("schedule-end = 1.5"), "{message}");
    }
}
