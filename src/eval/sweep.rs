//! The schedule sweep of the paper's Appendix F: steps x schedule end x samples averaged, each
//! point the mean over images of PSNR, SSIM and detail ratio.
//!
//! Per image the predictor runs once; per (image, schedule) one batch of the largest sample
//! count is drawn, and every sample count is measured on the average of its first N samples.

use std::time::Instant;

use super::{Evaluator, Pair, Progress, Scores};
use crate::error::{Error, Result};
use crate::network::{Denoise, Predict};
use crate::noise::{NoiseField, NoiseMode};
use crate::sampler::SamplingParams;
use crate::schedule::Schedule;

/// The settings swept.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepGrid {
    /// Reverse steps (each at least 1: the predictor alone is always measured).
    pub steps: Vec<u32>,
    /// Final 1−α of the schedule.
    pub schedule_ends: Vec<f64>,
    /// Sample counts averaged.
    pub samples: Vec<u32>,
}

impl SweepGrid {
    /// Steps of the paper's Appendix F grid, with the few-step end this library targets.
    pub const PAPER_STEPS: [u32; 9] = [1, 2, 4, 10, 20, 50, 100, 200, 500];
    /// Schedule ends of Appendix F.
    pub const PAPER_ENDS: [f64; 6] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
    /// The ends `deblur eval` sweeps by default: Appendix F's, plus 0.99 (one step from ᾱ of
    /// about 0.01, nearly pure noise), where the mean of samples can score best.
    pub const DEFAULT_ENDS: [f64; 7] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.99];
    /// Sample counts averaged.
    pub const PAPER_SAMPLES: [u32; 5] = [1, 2, 4, 8, 16];

    /// The paper's grid.
    pub fn paper() -> SweepGrid {
        SweepGrid {
            steps: Self::PAPER_STEPS.to_vec(),
            schedule_ends: Self::PAPER_ENDS.to_vec(),
            samples: Self::PAPER_SAMPLES.to_vec(),
        }
    }

    /// The grid with each list sorted and without repeats, after checking every value.
    pub fn checked(&self) -> Result<SweepGrid> {
        let empty = |name, list: &str| Error::invalid_config(name, "an empty list", list);
        if self.steps.is_empty() {
            return Err(empty("steps-grid", "a comma list such as 1,2,4"));
        }
        if self.schedule_ends.is_empty() {
            return Err(empty("ends-grid", "a comma list such as 0.1,0.5"));
        }
        if self.samples.is_empty() {
            return Err(empty("samples-grid", "a comma list such as 1,4"));
        }
        for &steps in &self.steps {
            if !(1..=Schedule::MAX_STEPS).contains(&steps) {
                return Err(Error::invalid_config(
                    "steps-grid",
                    steps,
                    format!(
                        "1 to {} (the predictor alone, steps 0, is always measured)",
                        Schedule::MAX_STEPS
                    ),
                ));
            }
        }
        for &end in &self.schedule_ends {
            Schedule::inference(1, end).map_err(|_| {
                Error::invalid_config(
                    "ends-grid",
                    end,
                    format!("a final 1−α in [{:e}, 1)", Schedule::START),
                )
            })?;
        }
        for &samples in &self.samples {
            if !(1..=SamplingParams::MAX_SAMPLES).contains(&samples) {
                return Err(Error::invalid_config(
                    "samples-grid",
                    samples,
                    format!("1 to {}", SamplingParams::MAX_SAMPLES),
                ));
            }
        }
        let mut grid = self.clone();
        grid.steps.sort_unstable();
        grid.steps.dedup();
        grid.schedule_ends.sort_by(f64::total_cmp);
        grid.schedule_ends.dedup();
        grid.samples.sort_unstable();
        grid.samples.dedup();
        Ok(grid)
    }

    /// Settings measured per image.
    pub fn points_per_image(&self) -> usize {
        self.steps.len() * self.schedule_ends.len() * self.samples.len()
    }

    /// The batch drawn per (image, schedule): the largest sample count.
    pub fn batch_size(&self) -> u32 {
        self.samples.iter().copied().max().unwrap_or(1)
    }
}

/// One setting and its mean scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepPoint {
    /// Reverse steps.
    pub steps: u32,
    /// Final 1−α.
    pub schedule_end: f64,
    /// Samples averaged.
    pub samples: u32,
    /// Means over the images.
    pub scores: Scores,
}

/// The outcome of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The grid, as checked (sorted).
    pub grid: SweepGrid,
    /// The centre crop each image was cut to, if any.
    pub crop: Option<u32>,
    /// The images, by name.
    pub images: Vec<String>,
    /// The blurry inputs, on the same crops.
    pub blurry: Scores,
    /// The predictor alone (steps 0), on the same crops.
    pub predictor: Scores,
    /// Every grid setting, steps-major, then schedule end, then samples.
    pub points: Vec<SweepPoint>,
}

/// Runs the sweep over `pairs` (cut to their centre `crop` when given) with noise seeded by
/// `seed`, reporting to `progress` after every batch.
pub fn run_sweep<P: Predict, D: Denoise>(
    evaluator: &mut Evaluator<P, D>,
    pairs: &[Pair],
    grid: &SweepGrid,
    crop: Option<u32>,
    seed: u64,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Sweep> {
    let grid = grid.checked()?;
    if pairs.is_empty() {
        return Err(Error::invalid_config(
            "sweep images",
            0,
            "at least one image pair",
        ));
    }
    let batch_size = grid.batch_size();
    let noise = NoiseField::for_frame(seed, NoiseMode::Locked, 0);
    let steps_total: u64 = grid.steps.iter().map(|&s| u64::from(s)).sum();
    let work_per_image = steps_total * grid.schedule_ends.len() as u64 * u64::from(batch_size);
    let started = Instant::now();
    let mut report = Progress {
        phase: "sweep",
        done: 0,
        total: pairs.len() * grid.points_per_image(),
        work_done: 0,
        work_total: work_per_image * pairs.len() as u64,
        elapsed: started.elapsed(),
    };
    progress(&report);

    let mut blurry = Vec::with_capacity(pairs.len());
    let mut predictor = Vec::with_capacity(pairs.len());
    let mut per_point: Vec<Vec<Scores>> = vec![Vec::new(); grid.points_per_image()];
    for pair in pairs {
        let pair = crop.map_or_else(|| pair.clone(), |size| pair.centre_crop(size));
        let predicted = evaluator.predict(&pair.blurry)?;
        blurry.push(Scores::measure(&pair.blurry, &pair.sharp)?);
        predictor.push(Scores::measure(&predicted.estimate(), &pair.sharp)?);
        let mut point = 0;
        for &steps in &grid.steps {
            for &end in &grid.schedule_ends {
                let batch = evaluator.sample(&predicted, steps, end, batch_size, noise)?;
                for &samples in &grid.samples {
                    let output = batch.mean_of_first(samples as usize)?;
                    per_point[point].push(Scores::measure(&output, &pair.sharp)?);
                    point += 1;
                }
                report.done += grid.samples.len();
                report.work_done += u64::from(steps) * u64::from(batch_size);
                report.elapsed = started.elapsed();
                progress(&report);
            }
        }
    }

    let mut settings = Vec::with_capacity(per_point.len());
    for &steps in &grid.steps {
        for &end in &grid.schedule_ends {
            settings.extend(grid.samples.iter().map(|&samples| (steps, end, samples)));
        }
    }
    let points = settings
        .into_iter()
        .zip(&per_point)
        .map(|((steps, schedule_end, samples), scores)| SweepPoint {
            steps,
            schedule_end,
            samples,
            scores: Scores::mean(scores),
        })
        .collect();
    Ok(Sweep {
        crop,
        images: pairs.iter().map(|p| p.name.clone()).collect(),
        blurry: Scores::mean(&blurry),
        predictor: Scores::mean(&predictor),
        points,
        grid,
    })
}
