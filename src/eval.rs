//! Quality evaluation (`deblur eval`): PSNR, SSIM, detail ratio and flicker of the blurry input,
//! the predictor alone, one sample and the average of several samples, on pairs of blurry and
//! sharp photos or on a clip; the schedule sweep of the paper's Appendix F with its
//! perception–distortion plot; the choice of a fast default schedule; and `docs/RESULTS.md`.
//!
//! Work is shared wherever the maths allows: an image gets one predictor pass for every
//! schedule, and one batch of the largest sample count serves every count (the average of its
//! first N samples is exactly what N-sample averaging gives).
//!
//! - [`data`]: the inputs; [`batch`]: predict once, sample many; [`table`]: the paper-form
//!   table; [`sweep`]: the grid; [`defaults`]: the fast default and the manifest rewrite;
//!   [`report`]: the Markdown report; [`figures`]: its images.

pub mod batch;
pub mod data;
pub mod defaults;
pub mod figures;
pub mod report;
pub mod sweep;
pub mod table;

use std::time::Duration;

pub use batch::{Evaluator, PredictedImage, SampleBatch};
pub use data::{Pair, load_clip, load_pairs};
pub use defaults::{
    AveragingDefault, FAST_MAX_STEPS, FastDefault, choose_averaging_default, choose_fast_default,
    write_averaging_sampling, write_default_sampling,
};
pub use report::{ModelInfo, Report};
pub use sweep::{Sweep, SweepGrid, SweepPoint, run_sweep};
pub use table::{Figure, Table, TableRow, TableSettings, clip_table, photo_table};

use crate::error::Result;
use crate::frame::RgbFrame;
use crate::metrics;

/// The distortion measures of one output against its sharp reference (or their means).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Peak signal-to-noise ratio, dB (infinite for an exact match).
    pub psnr: f64,
    /// Structural similarity.
    pub ssim: f64,
    /// Laplacian energy over the reference's: 1 is as detailed as the reference.
    pub detail_ratio: f64,
}

impl Scores {
    /// Measures `output` against `sharp`.
    pub fn measure(output: &RgbFrame, sharp: &RgbFrame) -> Result<Scores> {
        Ok(Scores {
            psnr: metrics::psnr(output, sharp)?,
            ssim: metrics::ssim(output, sharp)?,
            detail_ratio: metrics::detail_ratio(output, sharp)?,
        })
    }

    /// The mean of each measure over `scores` (NaN for none): per-image PSNRs are averaged, as
    /// the paper's tables do.
    pub fn mean(scores: &[Scores]) -> Scores {
        let n = scores.len() as f64;
        let mean = |f: fn(&Scores) -> f64| scores.iter().map(f).sum::<f64>() / n;
        Scores {
            psnr: mean(|s| s.psnr),
            ssim: mean(|s| s.ssim),
            detail_ratio: mean(|s| s.detail_ratio),
        }
    }
}

/// How far a long evaluation has come, reported after each unit of work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// What is running: "photos", "clip" or "sweep".
    pub phase: &'static str,
    /// Units finished (images, frames, or sweep points).
    pub done: usize,
    /// Units in all.
    pub total: usize,
    /// Work finished, in units proportional to time (denoiser sample-steps for the sweep).
    pub work_done: u64,
    /// Work in all.
    pub work_total: u64,
    /// Time since the phase started.
    pub elapsed: Duration,
}

impl Progress {
    /// The time left, extrapolated from the work done so far.
    pub fn eta(&self) -> Option<Duration> {
        (self.work_done > 0).then(|| {
            let left = self.work_total.saturating_sub(self.work_done) as f64;
            self.elapsed.mul_f64(left / self.work_done as f64)
        })
    }
}
