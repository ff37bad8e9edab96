//! The two networks as the sampler and the stages see them, independent of the runtime that
//! executes them (ONNX Runtime in production, plain Rust in tests).

use std::sync::Arc;

use crate::error::Result;
use crate::tensor::Tensor;

/// The deterministic predictor g: blurry y (N x 3 x H x W) to the first estimate x_init.
pub trait Predict {
    /// Runs g on a batch.
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor>;

    /// A handle that interrupts a run in progress, when the network supports it.
    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        None
    }
}

/// The denoiser f: noisy residual z_t, one noise level per batch item, and blurry y, to the
/// predicted noise ε (same shape as z_t).
pub trait Denoise {
    /// Runs f on a batch.
    fn denoise(
        &mut self,
        noisy_residual: &Tensor,
        noise_level: &[f32],
        blurry: &Tensor,
    ) -> Result<Tensor>;

    /// A handle that interrupts a run in progress, when the network supports it.
    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        None
    }
}

impl<T: Predict + ?Sized> Predict for Box<T> {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        (**self).predict(blurry)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        (**self).interrupter()
    }
}

impl<T: Denoise + ?Sized> Denoise for Box<T> {
    fn denoise(
        &mut self,
        noisy_residual: &Tensor,
        noise_level: &[f32],
        blurry: &Tensor,
    ) -> Result<Tensor> {
        (**self).denoise(noisy_residual, noise_level, blurry)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        (**self).interrupter()
    }
}

/// Which quantity the denoiser's noise-level input carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseLevel {
    /// √ᾱ, as in WaveGrad and SR3.
    SqrtAlphaBar,
    /// ᾱ itself.
    AlphaBar,
}

impl NoiseLevel {
    /// The network input for cumulative signal fraction `alpha_bar`.
    pub fn encode(self, alpha_bar: f64) -> f32 {
        match self {
            NoiseLevel::SqrtAlphaBar => alpha_bar.sqrt() as f32,
            NoiseLevel::AlphaBar => alpha_bar as f32,
        }
    }
}

/// Stops a network's run in progress from another thread (a flush must not wait for a slow
/// model), and re-arms it for the next run.
pub trait Interrupt: Send + Sync {
    /// Makes the run in progress, and any run started before [`Interrupt::resume`], fail soon.
    fn interrupt(&self);
    /// Lets runs proceed again.
    fn resume(&self);
}
