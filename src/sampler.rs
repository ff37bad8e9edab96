//! Algorithm 1 of the paper: diffusion sampling of the residual x − g(y).
//!
//! The chain starts from z_T ~ N(0, (1−ᾱ_T)·I), the forward marginal q(z_T | r_0) of a
//! zero-mean residual. That is Algorithm 1's N(0, I) whenever the schedule reaches pure noise
//! (ᾱ_T ≈ 0, as in training), and stays consistent for short, gentle inference schedules whose
//! ᾱ_T is far from 0, where N(0, I) would inject noise the denoiser was never trained to remove.

use crate::error::{Error, Result};
use crate::network::{Denoise, NoiseLevel};
use crate::noise::NoiseField;
use crate::schedule::Schedule;
use crate::tensor::Tensor;

/// The inference settings that may change from frame to frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingParams {
    /// Reverse diffusion steps; 0 returns the predictor's estimate alone.
    pub steps: u32,
    /// The schedule's final 1−α_T.
    pub schedule_end: f64,
    /// Samples averaged (sample averaging, "SA"), run as one batch.
    pub samples: u32,
}

impl SamplingParams {
    /// Most samples averaged.
    pub const MAX_SAMPLES: u32 = 64;

    /// Checks the ranges and builds the schedule (`None` for predictor only).
    pub fn schedule(&self) -> Result<Option<Schedule>> {
        if !(1..=Self::MAX_SAMPLES).contains(&self.samples) {
            return Err(Error::invalid_config(
                "samples",
                self.samples,
                format!("1 to {}", Self::MAX_SAMPLES),
            ));
        }
        if self.steps == 0 {
            return Ok(None);
        }
        Schedule::inference(self.steps, self.schedule_end).map(Some)
    }
}

/// Runs the reverse chain for one block (a frame or a tile) whose top-left pixel sits at
/// `origin` in the frame, so that its noise matches the frame's.
pub struct Sampler<'a> {
    schedule: &'a Schedule,
    level: NoiseLevel,
    noise: NoiseField,
    origin: (usize, usize),
}

impl<'a> Sampler<'a> {
    /// A sampler over `schedule`, telling the denoiser the level as `level`.
    pub fn new(
        schedule: &'a Schedule,
        level: NoiseLevel,
        noise: NoiseField,
        origin: (usize, usize),
    ) -> Self {
        Sampler {
            schedule,
            level,
            noise,
            origin,
        }
    }

    /// `samples` independent residual samples z_0 (samples x 3 x H x W) for one blurry block
    /// (1 x 3 x H x W).
    pub fn sample(
        &self,
        denoiser: &mut dyn Denoise,
        blurry: &Tensor,
        samples: usize,
    ) -> Result<Tensor> {
        let [_, c, h, w] = blurry.shape();
        let mut z = Tensor::zeros(samples, c, h, w);
        let start_std = self
            .schedule
            .one_minus_alpha_bar(self.schedule.steps())
            .sqrt() as f32;
        for s in 0..samples {
            let item = z.item_mut(s);
            self.fill_noise(0, s, c, h, w, item);
            item.iter_mut().for_each(|v| *v *= start_std);
        }
        let blurry_batch = blurry.repeat_batch(samples);
        self.reverse(denoiser, z, &blurry_batch, 0)
    }

    /// Runs reverse steps t = T..=`down_to` + 1 from z_T, returning z_`down_to`.
    pub fn reverse(
        &self,
        denoiser: &mut dyn Denoise,
        mut z: Tensor,
        blurry_batch: &Tensor,
        down_to: u32,
    ) -> Result<Tensor> {
        let [samples, c, h, w] = z.shape();
        let mut fresh = vec![0.0f32; c * h * w];
        for t in (down_to + 1..=self.schedule.steps()).rev() {
            let step = self.schedule.reverse_step(t);
            let levels = vec![self.level.encode(step.alpha_bar); samples];
            let eps = denoiser.denoise(&z, &levels, blurry_batch)?;
            if eps.shape() != z.shape() {
                return Err(Error::InvalidFrame {
                    reason: format!(
                        "denoiser returned shape {:?}: expected {:?} like its noisy input",
                        eps.shape(),
                        z.shape()
                    ),
                });
            }
            let (a, b, sigma) = (
                step.z_coef as f32,
                step.eps_coef as f32,
                step.noise_std as f32,
            );
            for s in 0..samples {
                let eps_item = eps.item(s);
                let z_item = z.item_mut(s);
                if sigma > 0.0 {
                    self.fill_noise(t, s, c, h, w, &mut fresh);
                    for ((zv, &ev), &nv) in z_item.iter_mut().zip(eps_item).zip(&fresh) {
                        *zv = a * *zv + b * ev + sigma * nv;
                    }
                } else {
                    for (zv, &ev) in z_item.iter_mut().zip(eps_item) {
                        *zv = a * *zv + b * ev;
                    }
                }
            }
        }
        Ok(z)
    }

    fn fill_noise(&self, draw: u32, sample: usize, c: usize, h: usize, w: usize, out: &mut [f32]) {
        self.noise.fill(
            draw,
            sample as u32,
            self.origin.0,
            self.origin.1,
            c,
            h,
            w,
            out,
        );
    }
}
