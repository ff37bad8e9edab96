//! One predictor pass per image, then any number of sample batches on top of it.
//!
//! [`crate::engine`] consumes its prediction in `refine` and returns only the mean and spread of
//! a batch; evaluation needs the opposite: a prediction kept for many schedules, and every
//! sample of a batch, so that the average of the first N samples serves every N at once. The
//! maths is the engine's (same tiles, noise, sampler and float operations), so the average of
//! the first N samples here is bit-identical to `Deblurrer::deblur` with N samples.

use crate::engine::{ModelSpec, Uncertainty};
use crate::ensemble::{self, SelfEnsemble};
use crate::error::{Error, Result};
use crate::frame::{self, RgbFrame};
use crate::network::{Denoise, Predict};
use crate::noise::NoiseField;
use crate::sampler::{Sampler, SamplingParams};
use crate::tensor::Tensor;
use crate::tiling::{Blender, TileGrid, Tiling};

/// The two networks and how frames are fed to them, for evaluation.
pub struct Evaluator<P, D> {
    predictor: P,
    denoiser: D,
    spec: ModelSpec,
    tiling: Tiling,
    ensemble: SelfEnsemble,
}

/// g(y) of one image, tile by tile, kept to be refined with many schedules.
#[derive(Debug)]
pub struct PredictedImage {
    grid: TileGrid,
    tiles: Vec<PredictedTile>,
    spec: ModelSpec,
}

#[derive(Debug)]
struct PredictedTile {
    blurry: Tensor,
    estimate: Tensor,
}

/// Every sample of one batch drawn for a [`PredictedImage`] with one schedule.
#[derive(Debug)]
pub struct SampleBatch<'p> {
    predicted: &'p PredictedImage,
    /// Per tile, the residual samples (samples x 3 x H x W); `None` for steps 0 (no residual).
    residuals: Option<Vec<Tensor>>,
    samples: usize,
}

impl<P: Predict, D: Denoise> Evaluator<P, D> {
    /// Wraps two networks.
    pub fn new(predictor: P, denoiser: D, spec: ModelSpec, tiling: Tiling) -> Self {
        Evaluator {
            predictor,
            denoiser,
            spec,
            tiling,
            ensemble: SelfEnsemble::OFF,
        }
    }

    /// Runs the predictor over the orientations of `ensemble` from now on.
    pub fn with_ensemble(mut self, ensemble: SelfEnsemble) -> Self {
        self.ensemble = ensemble;
        self
    }

    /// Runs the predictor on every tile of `frame`: the one predictor pass an image gets (a
    /// run per orientation under a self-ensemble).
    pub fn predict(&mut self, frame: &RgbFrame) -> Result<PredictedImage> {
        let grid = TileGrid::new(frame.width() as usize, frame.height() as usize, self.tiling);
        let tiles = grid
            .tiles()
            .iter()
            .map(|tile| {
                let blurry = frame::region_to_tensor(
                    frame,
                    tile.region,
                    self.spec.value_range,
                    self.spec.pad_multiple,
                );
                let estimate = ensemble::predict(&mut self.predictor, &blurry, self.ensemble)?;
                Ok(PredictedTile { blurry, estimate })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PredictedImage {
            grid,
            tiles,
            spec: self.spec,
        })
    }

    /// Draws `samples` residual samples per tile with the schedule of `steps` steps ending at
    /// `schedule_end` (the denoiser runs `steps` times per tile, on a batch of `samples`).
    pub fn sample<'p>(
        &mut self,
        predicted: &'p PredictedImage,
        steps: u32,
        schedule_end: f64,
        samples: u32,
        noise: NoiseField,
    ) -> Result<SampleBatch<'p>> {
        let params = SamplingParams {
            steps,
            schedule_end,
            samples,
        };
        let residuals = match params.schedule()? {
            None => None,
            Some(schedule) => {
                let mut residuals = Vec::with_capacity(predicted.tiles.len());
                for (tile, predicted_tile) in predicted.grid.tiles().iter().zip(&predicted.tiles) {
                    let origin = (tile.region.x, tile.region.y);
                    let sampler = Sampler::new(&schedule, self.spec.noise_level, noise, origin);
                    residuals.push(sampler.sample(
                        &mut self.denoiser,
                        &predicted_tile.blurry,
                        samples as usize,
                    )?);
                }
                Some(residuals)
            }
        };
        Ok(SampleBatch {
            predicted,
            residuals,
            samples: samples as usize,
        })
    }

    /// The networks back (tests read their call counts).
    pub fn into_networks(self) -> (P, D) {
        (self.predictor, self.denoiser)
    }
}

impl PredictedImage {
    /// The predictor's estimate g(y) as an image.
    pub fn estimate(&self) -> RgbFrame {
        let tensor = self.blend_tensor(3, |_, tile| tile.estimate.data().to_vec());
        frame::tensor_to_frame(&tensor, self.spec.value_range)
    }

    /// Blends `values` of every tile (`channels` x padded H x W each) into one tensor.
    fn blend_tensor(
        &self,
        channels: usize,
        values: impl Fn(usize, &PredictedTile) -> Vec<f32>,
    ) -> Tensor {
        let mut blender = Blender::new(channels, self.grid.width(), self.grid.height());
        for (index, (tile, predicted)) in self.grid.tiles().iter().zip(&self.tiles).enumerate() {
            let [_, _, th, tw] = predicted.estimate.shape();
            blender.add(tile, &values(index, predicted), tw, th);
        }
        blender.finish()
    }
}

impl SampleBatch<'_> {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// Whether the batch holds no samples (never, for a batch made by [`Evaluator::sample`]).
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// Sample `index` alone: g(y) + z₀ of that sample.
    pub fn sample(&self, index: usize) -> Result<RgbFrame> {
        self.check_count("sample index", index + 1)?;
        Ok(self.average_range(index, index + 1))
    }

    /// The average of the first `count` samples: what `count`-sample averaging gives.
    pub fn mean_of_first(&self, count: usize) -> Result<RgbFrame> {
        self.check_count("samples averaged", count)?;
        Ok(self.average_range(0, count))
    }

    /// The per-pixel standard deviation across all samples of the batch (root mean square over
    /// the colour channels), in model units: what the engine returns as uncertainty.
    pub fn spread(&self) -> Uncertainty {
        let (width, height) = (self.predicted.grid.width(), self.predicted.grid.height());
        let values = match &self.residuals {
            None => vec![0.0; width * height],
            Some(residuals) => self
                .predicted
                .blend_tensor(1, |index, tile| {
                    let mean = mean_of(&tile.estimate, &residuals[index], 0, self.samples);
                    spread_of(&tile.estimate, &residuals[index], &mean)
                })
                .into_vec(),
        };
        Uncertainty {
            width,
            height,
            values,
        }
    }

    fn check_count(&self, what: &'static str, count: usize) -> Result<()> {
        if (1..=self.samples).contains(&count) {
            Ok(())
        } else {
            Err(Error::invalid_config(
                what,
                count,
                format!("1 to {}, the samples in the batch", self.samples),
            ))
        }
    }

    fn average_range(&self, first: usize, end: usize) -> RgbFrame {
        match &self.residuals {
            None => self.predicted.estimate(),
            Some(residuals) => {
                let tensor = self.predicted.blend_tensor(3, |index, tile| {
                    mean_of(&tile.estimate, &residuals[index], first, end)
                });
                frame::tensor_to_frame(&tensor, self.predicted.spec.value_range)
            }
        }
    }
}

/// estimate + the mean of residual samples `first..end`, summed in the engine's order so that
/// the result is bit-identical to the engine's.
fn mean_of(estimate: &Tensor, residuals: &Tensor, first: usize, end: usize) -> Vec<f32> {
    let scale = 1.0 / (end - first) as f32;
    let mut mean = residuals.item(first).to_vec();
    for s in first + 1..end {
        for (m, &r) in mean.iter_mut().zip(residuals.item(s)) {
            *m += r;
        }
    }
    for (m, &e) in mean.iter_mut().zip(estimate.data()) {
        *m = e + *m * scale;
    }
    mean
}

/// The engine's spread: per pixel, √(Σ_s Σ_c (e + r_s − mean)² / (samples · channels)).
fn spread_of(estimate: &Tensor, residuals: &Tensor, mean: &[f32]) -> Vec<f32> {
    let samples = residuals.batch();
    let plane = estimate.height() * estimate.width();
    let mut spread = vec![0.0f32; plane];
    for s in 0..samples {
        for (c, item) in residuals.item(s).chunks_exact(plane).enumerate() {
            let mean_c = &mean[c * plane..(c + 1) * plane];
            let estimate_c = &estimate.data()[c * plane..(c + 1) * plane];
            for (((v, &r), &m), &e) in spread.iter_mut().zip(item).zip(mean_c).zip(estimate_c) {
                let d = e + r - m;
                *v += d * d;
            }
        }
    }
    let (scale, channels) = (1.0 / samples as f32, estimate.channels() as f32);
    spread
        .iter_mut()
        .for_each(|v| *v = (*v * scale / channels).sqrt());
    spread
}
