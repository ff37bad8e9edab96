//! The paper-form table (Tables 1 and 2): the blurry input, the predictor alone, one sample at
//! the model's default schedule and the average of several samples ("SA"); for a clip also the
//! temporal error, with noise locked and, for one sample, noise drawn per frame.
//!
//! Per image: one predictor pass and one batch of the SA count with locked noise at the
//! averaging schedule: its mean is the SA row, its spread the uncertainty map. When the model's
//! averaging schedule is its default schedule, the batch's first sample is the one-sample row
//! (sample 0 of any batch is what a one-sample run gives); otherwise one more sample is drawn at
//! the default schedule.

use std::time::Instant;

use super::{Evaluator, Pair, PredictedImage, Progress, SampleBatch, Scores};
use crate::engine::Uncertainty;
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::metrics;
use crate::network::{Denoise, Predict};
use crate::noise::{NoiseField, NoiseMode};

/// The settings of the table's sampled rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableSettings {
    /// Reverse steps of the default schedule (the one-sample rows).
    pub steps: u32,
    /// Its final 1−α.
    pub schedule_end: f64,
    /// Samples averaged in the SA row.
    pub averaged_samples: u32,
    /// Reverse steps of the SA row's schedule (the model's averaging schedule).
    pub averaged_steps: u32,
    /// Its final 1−α.
    pub averaged_schedule_end: f64,
    /// Noise seed.
    pub seed: u64,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// What the row is: "Blurry input", "Predictor only", ...
    pub label: String,
    /// The setting, in words.
    pub setting: String,
    /// Means over the images or frames.
    pub scores: Scores,
    /// For a clip: the temporal error averaged over consecutive frames.
    pub temporal_error: Option<f64>,
    /// Scores per image or frame, in input order.
    pub per_image: Vec<Scores>,
}

/// The table and what it was measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Image (or frame) names, in order.
    pub names: Vec<String>,
    /// The rows, in the paper's order.
    pub rows: Vec<TableRow>,
}

/// The images the report shows for one input: the outputs side by side and the uncertainty.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The input's name.
    pub name: String,
    /// The input.
    pub blurry: RgbFrame,
    /// g(y).
    pub predictor: RgbFrame,
    /// One sample.
    pub sample: RgbFrame,
    /// The average of the SA batch.
    pub average: RgbFrame,
    /// The reference.
    pub sharp: RgbFrame,
    /// The spread across the SA batch.
    pub uncertainty: Uncertainty,
    /// Samples in the SA batch.
    pub samples: u32,
}

/// A row being filled, image by image.
struct RowBuilder {
    label: String,
    setting: String,
    per_image: Vec<Scores>,
    /// For clips: the temporal error of each frame after the first, and the last output.
    temporal: Option<(Vec<f64>, Option<RgbFrame>)>,
}

impl RowBuilder {
    fn new(label: impl Into<String>, setting: impl Into<String>, clip: bool) -> RowBuilder {
        RowBuilder {
            label: label.into(),
            setting: setting.into(),
            per_image: Vec::new(),
            temporal: clip.then(|| (Vec::new(), None)),
        }
    }

    /// Adds one output; for clips, `previous_sharp` is the reference of the frame before.
    fn add(
        &mut self,
        output: RgbFrame,
        sharp: &RgbFrame,
        previous_sharp: Option<&RgbFrame>,
    ) -> Result<()> {
        self.per_image.push(Scores::measure(&output, sharp)?);
        if let Some((errors, previous_output)) = &mut self.temporal {
            if let (Some(previous_output), Some(previous_sharp)) =
                (&*previous_output, previous_sharp)
            {
                errors.push(metrics::temporal_error(
                    &output,
                    previous_output,
                    sharp,
                    previous_sharp,
                )?);
            }
            *previous_output = Some(output);
        }
        Ok(())
    }

    fn finish(self) -> TableRow {
        let temporal_error = self
            .temporal
            .map(|(errors, _)| errors.iter().sum::<f64>() / errors.len().max(1) as f64);
        TableRow {
            label: self.label,
            scores: Scores::mean(&self.per_image),
            setting: self.setting,
            temporal_error,
            per_image: self.per_image,
        }
    }
}

fn schedule_words(steps: u32, schedule_end: f64) -> String {
    format!("{steps} steps, end {}", super::report::number(schedule_end))
}

impl TableSettings {
    /// Whether the SA row samples at the one-sample rows' schedule.
    fn averages_the_default_schedule(&self) -> bool {
        self.averaged_steps == self.steps && self.averaged_schedule_end == self.schedule_end
    }

    /// The one-sample output and the SA batch for one `predicted` image.
    fn sample_and_batch<'p, P: Predict, D: Denoise>(
        &self,
        evaluator: &mut Evaluator<P, D>,
        predicted: &'p PredictedImage,
        noise: NoiseField,
    ) -> Result<(RgbFrame, SampleBatch<'p>)> {
        let sa = self.averaged_samples;
        let batch = evaluator.sample(
            predicted,
            self.averaged_steps,
            self.averaged_schedule_end,
            sa,
            noise,
        )?;
        let sample = if self.averages_the_default_schedule() {
            batch.sample(0)?
        } else {
            evaluator
                .sample(predicted, self.steps, self.schedule_end, 1, noise)?
                .sample(0)?
        };
        Ok((sample, batch))
    }
}

fn check_inputs(pairs: &[Pair], what: &'static str, settings: &TableSettings) -> Result<()> {
    if pairs.is_empty() {
        return Err(Error::invalid_config(what, 0, "at least one pair"));
    }
    if settings.averaged_samples == 0 {
        return Err(Error::invalid_config(
            "sa-samples",
            0,
            "at least 1 sample to average",
        ));
    }
    Ok(())
}

/// The table over photo `pairs` at full size, with [`Figure`]s of the first `figures` pairs.
pub fn photo_table<P: Predict, D: Denoise>(
    evaluator: &mut Evaluator<P, D>,
    pairs: &[Pair],
    settings: &TableSettings,
    figures: usize,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Table, Vec<Figure>)> {
    check_inputs(pairs, "photo pairs", settings)?;
    let schedule = schedule_words(settings.steps, settings.schedule_end);
    let averaged = schedule_words(settings.averaged_steps, settings.averaged_schedule_end);
    let sa = settings.averaged_samples;
    let mut rows = [
        RowBuilder::new("Blurry input", "—", false),
        RowBuilder::new("Predictor only", "0 steps", false),
        RowBuilder::new("One sample", schedule, false),
        RowBuilder::new(
            format!("SA ({sa} samples)"),
            format!("{averaged}, mean of {sa}"),
            false,
        ),
    ];
    let noise = NoiseField::for_frame(settings.seed, NoiseMode::Locked, 0);
    let mut shown = Vec::new();
    let started = Instant::now();
    for (index, pair) in pairs.iter().enumerate() {
        let predicted = evaluator.predict(&pair.blurry)?;
        let (sample, batch) = settings.sample_and_batch(evaluator, &predicted, noise)?;
        let estimate = predicted.estimate();
        let average = batch.mean_of_first(sa as usize)?;
        if index < figures {
            shown.push(Figure {
                name: pair.name.clone(),
                blurry: pair.blurry.clone(),
                predictor: estimate.clone(),
                sample: sample.clone(),
                average: average.clone(),
                sharp: pair.sharp.clone(),
                uncertainty: batch.spread(),
                samples: sa,
            });
        }
        let outputs = [pair.blurry.clone(), estimate, sample, average];
        for (row, output) in rows.iter_mut().zip(outputs) {
            row.add(output, &pair.sharp, None)?;
        }
        report_image(progress, "photos", index, pairs.len(), started);
    }
    let table = Table {
        names: pairs.iter().map(|p| p.name.clone()).collect(),
        rows: rows.into_iter().map(RowBuilder::finish).collect(),
    };
    Ok((table, shown))
}

/// The table over a clip's `frames`, with the temporal error: noise locked for every row, plus
/// one sample with noise drawn per frame, to show the flicker it adds.
pub fn clip_table<P: Predict, D: Denoise>(
    evaluator: &mut Evaluator<P, D>,
    frames: &[Pair],
    settings: &TableSettings,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Table> {
    check_inputs(frames, "clip frames", settings)?;
    let schedule = schedule_words(settings.steps, settings.schedule_end);
    let averaged = schedule_words(settings.averaged_steps, settings.averaged_schedule_end);
    let sa = settings.averaged_samples;
    let mut rows = [
        RowBuilder::new("Blurry input", "—", true),
        RowBuilder::new("Predictor only", "0 steps", true),
        RowBuilder::new("One sample", format!("{schedule}, noise locked"), true),
        RowBuilder::new(
            format!("SA ({sa} samples)"),
            format!("{averaged}, mean of {sa}, noise locked"),
            true,
        ),
        RowBuilder::new("One sample", format!("{schedule}, noise per frame"), true),
    ];
    let locked = NoiseField::for_frame(settings.seed, NoiseMode::Locked, 0);
    let started = Instant::now();
    for (index, frame) in frames.iter().enumerate() {
        let predicted = evaluator.predict(&frame.blurry)?;
        let (sample, batch) = settings.sample_and_batch(evaluator, &predicted, locked)?;
        let per_frame_noise =
            NoiseField::for_frame(settings.seed, NoiseMode::PerFrame, index as u64);
        let per_frame = evaluator
            .sample(
                &predicted,
                settings.steps,
                settings.schedule_end,
                1,
                per_frame_noise,
            )?
            .sample(0)?;
        let outputs = [
            frame.blurry.clone(),
            predicted.estimate(),
            sample,
            batch.mean_of_first(sa as usize)?,
            per_frame,
        ];
        let previous_sharp = index.checked_sub(1).map(|i| &frames[i].sharp);
        for (row, output) in rows.iter_mut().zip(outputs) {
            row.add(output, &frame.sharp, previous_sharp)?;
        }
        report_image(progress, "clip", index, frames.len(), started);
    }
    Ok(Table {
        names: frames.iter().map(|p| p.name.clone()).collect(),
        rows: rows.into_iter().map(RowBuilder::finish).collect(),
    })
}

fn report_image(
    progress: &mut dyn FnMut(&Progress),
    phase: &'static str,
    index: usize,
    total: usize,
    started: Instant,
) {
    progress(&Progress {
        phase,
        done: index + 1,
        total,
        work_done: index as u64 + 1,
        work_total: total as u64,
        elapsed: started.elapsed(),
    });
}
