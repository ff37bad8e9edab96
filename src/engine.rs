//! Deblurring one frame, split into the two stages the pipeline runs on separate threads:
//! [`predict`] (tiles, padding, g(y)) and [`refine`] (the sampler per tile, blending, output).

use std::time::{Duration, Instant};

use crate::bundle::ModelBundle;
use crate::ensemble::{self, SelfEnsemble};
use crate::error::Result;
use crate::frame::{self, RgbFrame, ValueRange};
use crate::network::{Denoise, NoiseLevel, Predict};
use crate::noise::{NoiseField, NoiseMode};
use crate::sampler::{Sampler, SamplingParams};
use crate::tensor::Tensor;
use crate::tiling::{Blender, TileGrid, Tiling};

/// What frame processing needs to know about the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelSpec {
    /// Byte to float mapping.
    pub value_range: ValueRange,
    /// H and W multiple.
    pub pad_multiple: usize,
    /// The denoiser's noise-level convention.
    pub noise_level: NoiseLevel,
}

impl From<&ModelBundle> for ModelSpec {
    fn from(bundle: &ModelBundle) -> Self {
        ModelSpec {
            value_range: bundle.value_range(),
            pad_multiple: bundle.pad_multiple(),
            noise_level: bundle.noise_level(),
        }
    }
}

/// Extra images a frame's result carries besides the deblurred one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Also return the predictor's estimate g(y).
    pub predictor: bool,
    /// Also return the per-pixel standard deviation across samples.
    pub uncertainty: bool,
}

/// The settings one frame is deblurred with; they may change from frame to frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameSettings {
    /// Steps, schedule end and samples.
    pub sampling: SamplingParams,
    /// Noise seed.
    pub seed: u64,
    /// How noise relates across frames.
    pub noise_mode: NoiseMode,
    /// Extra outputs wanted.
    pub extras: Extras,
    /// Orientations the predictor averages over ([`SelfEnsemble::OFF`]: one run).
    pub ensemble: SelfEnsemble,
}

/// The predictor stage's output for one frame.
#[derive(Debug)]
pub struct Predicted {
    grid: TileGrid,
    tiles: Vec<PredictedTile>,
    elapsed: Duration,
}

#[derive(Debug)]
struct PredictedTile {
    blurry: Tensor,
    estimate: Tensor,
}

/// Per-pixel standard deviation across samples (root mean square over the colour channels), in
/// model units.
#[derive(Clone, Debug, PartialEq)]
pub struct Uncertainty {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Wall time spent per stage on one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Predictor stage.
    pub predict: Duration,
    /// Refiner stage.
    pub refine: Duration,
}

/// A deblurred frame.
#[derive(Clone, Debug)]
pub struct Deblurred {
    /// The output: g(y) plus the (averaged) sampled residual.
    pub image: RgbFrame,
    /// g(y), when asked for.
    pub predictor: Option<RgbFrame>,
    /// Spread across samples, when asked for.
    pub uncertainty: Option<Uncertainty>,
    /// Time per stage.
    pub timings: StageTimings,
}

/// Stage 1: cuts `frame` into tiles and runs the predictor on each, once per orientation of
/// `ensemble`.
pub fn predict(
    predictor: &mut dyn Predict,
    spec: &ModelSpec,
    tiling: Tiling,
    ensemble: SelfEnsemble,
    frame: &RgbFrame,
) -> Result<Predicted> {
    let started = Instant::now();
    let grid = TileGrid::new(frame.width() as usize, frame.height() as usize, tiling);
    let mut tiles = Vec::with_capacity(grid.tiles().len());
    for tile in grid.tiles() {
        let blurry =
            frame::region_to_tensor(frame, tile.region, spec.value_range, spec.pad_multiple);
        let estimate = ensemble::predict(predictor, &blurry, ensemble)?;
        tiles.push(PredictedTile { blurry, estimate });
    }
    Ok(Predicted {
        grid,
        tiles,
        elapsed: started.elapsed(),
    })
}

/// Stage 2: samples the residual of every tile, adds it to the estimate, averages the samples
/// and blends the tiles into the output frame.
pub fn refine(
    denoiser: &mut dyn Denoise,
    spec: &ModelSpec,
    predicted: Predicted,
    settings: &FrameSettings,
    frame_index: u64,
) -> Result<Deblurred> {
    let started = Instant::now();
    let schedule = settings.sampling.schedule()?;
    let samples = settings.sampling.samples as usize;
    let noise = NoiseField::for_frame(settings.seed, settings.noise_mode, frame_index);
    let (width, height) = (predicted.grid.width(), predicted.grid.height());
    let mut output = Blender::new(3, width, height);
    let mut estimate_out = settings
        .extras
        .predictor
        .then(|| Blender::new(3, width, height));
    let mut spread_out = settings
        .extras
        .uncertainty
        .then(|| Blender::new(1, width, height));

    for (tile, predicted_tile) in predicted.grid.tiles().iter().zip(&predicted.tiles) {
        let estimate = &predicted_tile.estimate;
        let [_, _, th, tw] = estimate.shape();
        if let Some(blender) = estimate_out.as_mut() {
            blender.add(tile, estimate.data(), tw, th);
        }
        let Some(schedule) = schedule.as_ref() else {
            output.add(tile, estimate.data(), tw, th);
            if let Some(blender) = spread_out.as_mut() {
                blender.add(tile, &vec![0.0; tw * th], tw, th);
            }
            continue;
        };
        let origin = (tile.region.x, tile.region.y);
        let sampler = Sampler::new(schedule, spec.noise_level, noise, origin);
        let residuals = sampler.sample(denoiser, &predicted_tile.blurry, samples)?;
        let (mean, spread) = sample_statistics(estimate, &residuals, spread_out.is_some());
        output.add(tile, &mean, tw, th);
        if let (Some(blender), Some(spread)) = (spread_out.as_mut(), spread) {
            blender.add(tile, &spread, tw, th);
        }
    }

    let image = frame::tensor_to_frame(&output.finish(), spec.value_range);
    let predictor = estimate_out.map(|b| frame::tensor_to_frame(&b.finish(), spec.value_range));
    let uncertainty = spread_out.map(|b| Uncertainty {
        width,
        height,
        values: b.finish().into_vec(),
    });
    Ok(Deblurred {
        image,
        predictor,
        uncertainty,
        timings: StageTimings {
            predict: predicted.elapsed,
            refine: started.elapsed(),
        },
    })
}

/// The mean of estimate + residual_i over samples (3 x H x W), and optionally the per-pixel
/// standard deviation across samples, root mean square over channels (H x W).
fn sample_statistics(
    estimate: &Tensor,
    residuals: &Tensor,
    with_spread: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let samples = residuals.batch();
    let scale = 1.0 / samples as f32;
    let mut mean = residuals.item(0).to_vec();
    for s in 1..samples {
        for (m, &r) in mean.iter_mut().zip(residuals.item(s)) {
            *m += r;
        }
    }
    for (m, &e) in mean.iter_mut().zip(estimate.data()) {
        *m = e + *m * scale;
    }
    let spread = with_spread.then(|| {
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
        let channels = estimate.channels() as f32;
        spread
            .iter_mut()
            .for_each(|v| *v = (*v * scale / channels).sqrt());
        spread
    });
    (mean, spread)
}

/// Deblurs single images with both stages in the calling thread.
pub struct Deblurrer<P, D> {
    predictor: P,
    denoiser: D,
    spec: ModelSpec,
    tiling: Tiling,
}

impl<P: Predict, D: Denoise> Deblurrer<P, D> {
    /// Wraps two networks.
    pub fn new(predictor: P, denoiser: D, spec: ModelSpec, tiling: Tiling) -> Self {
        Deblurrer {
            predictor,
            denoiser,
            spec,
            tiling,
        }
    }

    /// Deblurs one frame, numbered `frame_index` for per-frame noise.
    pub fn deblur(
        &mut self,
        frame: &RgbFrame,
        settings: &FrameSettings,
        frame_index: u64,
    ) -> Result<Deblurred> {
        let predicted = predict(
            &mut self.predictor,
            &self.spec,
            self.tiling,
            settings.ensemble,
            frame,
        )?;
        refine(
            &mut self.denoiser,
            &self.spec,
            predicted,
            settings,
            frame_index,
        )
    }
}
