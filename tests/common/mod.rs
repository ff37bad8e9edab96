//! Plain-Rust stand-ins for the networks, shared by the integration tests.
#![allow(dead_code)]

use deblur::error::{Error, Result};
use deblur::network::{Denoise, NoiseLevel, Predict};
use deblur::schedule::Schedule;
use deblur::tensor::Tensor;

/// g(y) = y.
pub struct IdentityPredictor;

impl Predict for IdentityPredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        Ok(blurry.clone())
    }
}

/// g(y) = `gain` * y, pixel by pixel.
pub struct ScalePredictor(pub f32);

impl Predict for ScalePredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        let mut out = blurry.clone();
        out.data_mut().iter_mut().for_each(|v| *v *= self.0);
        Ok(out)
    }
}

/// Returns the exact ε for a known residual r0: ε = (z − √ᾱ r0) / √(1−ᾱ), where ᾱ is looked up
/// exactly (in f64) from the schedule by the level the sampler passes.
pub struct OracleDenoiser {
    /// The residual of one batch item (1 x C x H x W), the same for every item.
    pub residual: Tensor,
    levels: Vec<(f32, f64, f64)>,
    pub calls: usize,
}

impl OracleDenoiser {
    pub fn new(residual: Tensor, schedule: &Schedule, level: NoiseLevel) -> Self {
        let levels = (1..=schedule.steps())
            .map(|t| {
                (
                    level.encode(schedule.alpha_bar(t)),
                    schedule.alpha_bar(t),
                    schedule.one_minus_alpha_bar(t),
                )
            })
            .collect();
        OracleDenoiser {
            residual,
            levels,
            calls: 0,
        }
    }
}

impl Denoise for OracleDenoiser {
    fn denoise(&mut self, z: &Tensor, noise_level: &[f32], _blurry: &Tensor) -> Result<Tensor> {
        self.calls += 1;
        let mut eps = z.clone();
        for (item, &level) in noise_level.iter().enumerate() {
            let &(_, alpha_bar, noise) = self
                .levels
                .iter()
                .find(|(encoded, _, _)| *encoded == level)
                .expect("the sampler passes only levels of its schedule");
            let (signal, sigma) = (alpha_bar.sqrt(), noise.sqrt());
            for (e, &r) in eps.item_mut(item).iter_mut().zip(self.residual.data()) {
                *e = ((f64::from(*e) - signal * f64::from(r)) / sigma) as f32;
            }
        }
        Ok(eps)
    }
}

/// The exact ε for a zero residual whatever the schedule, when the level is √ᾱ:
/// ε = z / √(1 − level²). Same as the committed `identity` ONNX fixture.
pub struct ZeroResidualDenoiser;

impl Denoise for ZeroResidualDenoiser {
    fn denoise(&mut self, z: &Tensor, noise_level: &[f32], _blurry: &Tensor) -> Result<Tensor> {
        let mut eps = z.clone();
        for (item, &level) in noise_level.iter().enumerate() {
            let sigma = (1.0 - level * level).sqrt();
            eps.item_mut(item).iter_mut().for_each(|v| *v /= sigma);
        }
        Ok(eps)
    }
}

/// A pixel-wise stand-in with no spatial context: ε̂ = 0.5 z + 0.1 y. Its output depends on the
/// noise, so it shows whether tiles see the same noise as the whole frame.
pub struct PointwiseDenoiser;

impl Denoise for PointwiseDenoiser {
    fn denoise(&mut self, z: &Tensor, _noise_level: &[f32], blurry: &Tensor) -> Result<Tensor> {
        let mut eps = z.clone();
        for (e, &y) in eps.data_mut().iter_mut().zip(blurry.data()) {
            *e = 0.5 * *e + 0.1 * y;
        }
        Ok(eps)
    }
}

/// Fails on its `fail_on`-th call (counting from 0).
pub struct FailingPredictor {
    pub fail_on: usize,
    pub calls: usize,
}

impl Predict for FailingPredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        self.calls += 1;
        if self.calls - 1 == self.fail_on {
            return Err(Error::InvalidFrame {
                reason: "injected predictor failure".into(),
            });
        }
        Ok(blurry.clone())
    }
}

/// Panics on its first call.
pub struct PanickingDenoiser;

impl Denoise for PanickingDenoiser {
    fn denoise(&mut self, _z: &Tensor, _l: &[f32], _y: &Tensor) -> Result<Tensor> {
        panic!("injected denoiser panic");
    }
}

/// A deterministic pseudo-random image tensor with values in [-amplitude, amplitude].
pub fn pattern(n: usize, c: usize, h: usize, w: usize, seed: u64, amplitude: f32) -> Tensor {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let data = (0..n * c * h * w)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect();
    Tensor::from_vec(n, c, h, w, data)
}

/// A deterministic pseudo-random RGB8 frame.
pub fn random_frame(width: u32, height: u32, seed: u64) -> deblur::RgbFrame {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let data = (0..width as usize * height as usize * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    deblur::RgbFrame::new(width, height, data).expect("valid size")
}

/// The repository's fixture directory.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Loads ONNX Runtime, failing loudly (never skipping) when it is missing.
pub fn require_runtime() {
    if let Err(e) = deblur::runtime::runtime() {
        panic!("these tests need ONNX Runtime: {e}");
    }
}
