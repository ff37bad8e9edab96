//! The two-stage streaming pipeline: the predictor and the refiner each run on a thread of their
//! own with their own session, joined by bounded channels, so that frame n+1's prediction
//! overlaps frame n's refinement. Frames come out in input order. Dropping the [`FrameSender`]
//! ends the stream: every frame already sent still comes out, then [`FrameReceiver::recv`]
//! returns `None`. A failing stage sends its error downstream and stops; the error is the last
//! item of the stream and further sends fail, so nothing hangs.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::bundle::ModelBundle;
use crate::engine::{self, Deblurred, FrameSettings, ModelSpec, Predicted};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::network::{Denoise, Predict};
use crate::onnx::SessionOptions;
use crate::tiling::Tiling;

/// Pipeline shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Frames that may wait at the pipeline's entrance (and at its exit); at least 1.
    pub frames_in_flight: usize,
    /// Tiling of large frames.
    pub tiling: Tiling,
    /// The predictor stage's session.
    pub predictor: SessionOptions,
    /// The refiner stage's session.
    pub refiner: SessionOptions,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let per_stage = (available_cores() / 2).max(1);
        PipelineConfig {
            frames_in_flight: 2,
            tiling: Tiling::default(),
            predictor: SessionOptions {
                threads: per_stage,
                ..SessionOptions::default()
            },
            refiner: SessionOptions {
                threads: per_stage,
                ..SessionOptions::default()
            },
        }
    }
}

/// Cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A frame to deblur and the settings for it.
#[derive(Clone, Debug)]
pub struct FrameJob {
    /// Position in the stream; seeds per-frame noise.
    pub frame_index: u64,
    /// The blurry frame.
    pub frame: RgbFrame,
    /// Sampling settings for this frame.
    pub settings: FrameSettings,
}

/// A finished frame.
#[derive(Clone, Debug)]
pub struct FrameResult {
    /// The job's frame index.
    pub frame_index: u64,
    /// The output and its extras.
    pub deblurred: Deblurred,
}

struct PredictedJob {
    frame_index: u64,
    settings: FrameSettings,
    predicted: Predicted,
}

/// The pipeline's entrance. Dropping it ends the stream.
pub struct FrameSender {
    jobs: Sender<FrameJob>,
}

impl FrameSender {
    /// Queues a frame, blocking while the pipeline is full. Fails when the pipeline has stopped
    /// (after a stage error, which the receiver reports).
    pub fn send(&self, job: FrameJob) -> Result<()> {
        self.jobs.send(job).map_err(|_| Error::PipelineClosed)
    }
}

/// The pipeline's exit.
pub struct FrameReceiver {
    results: Receiver<Result<FrameResult>>,
    workers: Vec<(&'static str, JoinHandle<()>)>,
}

impl FrameReceiver {
    /// The next frame in input order, a stage's error, or `None` at the end of the stream.
    pub fn recv(&mut self) -> Option<Result<FrameResult>> {
        if let Ok(result) = self.results.recv() {
            return Some(result);
        }
        // The stream has ended; a worker that panicked ended it without a word.
        let mut lost = None;
        for (stage, worker) in self.workers.drain(..) {
            if worker.join().is_err() {
                lost.get_or_insert(Error::StageLost { stage });
            }
        }
        lost.map(Err)
    }
}

impl Iterator for FrameReceiver {
    type Item = Result<FrameResult>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

/// Starts the pipeline on `bundle`, creating each stage's session here so that loading errors
/// come back before any frame is sent.
pub fn start(bundle: &ModelBundle, config: PipelineConfig) -> Result<(FrameSender, FrameReceiver)> {
    let predictor = bundle.predictor(config.predictor)?;
    let denoiser = bundle.denoiser(config.refiner)?;
    start_with(predictor, denoiser, ModelSpec::from(bundle), config)
}

/// Starts the pipeline on any two networks.
pub fn start_with<P, D>(
    mut predictor: P,
    mut denoiser: D,
    spec: ModelSpec,
    config: PipelineConfig,
) -> Result<(FrameSender, FrameReceiver)>
where
    P: Predict + Send + 'static,
    D: Denoise + Send + 'static,
{
    let in_flight = config.frames_in_flight.max(1);
    let (job_tx, job_rx) = bounded::<FrameJob>(in_flight);
    let (predicted_tx, predicted_rx) = bounded::<Result<PredictedJob>>(1);
    let (result_tx, result_rx) = bounded::<Result<FrameResult>>(in_flight);
    let tiling = config.tiling;

    let predict_worker = std::thread::Builder::new()
        .name("deblur-predict".into())
        .spawn(move || {
            for job in job_rx {
                let span = tracing::debug_span!("predict", frame = job.frame_index);
                let outcome = span
                    .in_scope(|| engine::predict(&mut predictor, &spec, tiling, &job.frame))
                    .map(|predicted| PredictedJob {
                        frame_index: job.frame_index,
                        settings: job.settings,
                        predicted,
                    })
                    .map_err(|e| Error::Stage {
                        stage: "predictor",
                        frame_index: job.frame_index,
                        source: Box::new(e),
                    });
                let failed = outcome.is_err();
                if predicted_tx.send(outcome).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|source| Error::Spawn {
            stage: "predictor",
            source,
        })?;

    let refine_worker = std::thread::Builder::new()
        .name("deblur-refine".into())
        .spawn(move || {
            for predicted in predicted_rx {
                let outcome = predicted.and_then(|job| {
                    let span = tracing::debug_span!("refine", frame = job.frame_index);
                    let frame_index = job.frame_index;
                    span.in_scope(|| {
                        engine::refine(
                            &mut denoiser,
                            &spec,
                            job.predicted,
                            &job.settings,
                            frame_index,
                        )
                    })
                    .map(|deblurred| FrameResult {
                        frame_index,
                        deblurred,
                    })
                    .map_err(|e| Error::Stage {
                        stage: "refiner",
                        frame_index,
                        source: Box::new(e),
                    })
                });
                let failed = outcome.is_err();
                if result_tx.send(outcome).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|source| Error::Spawn {
            stage: "refiner",
            source,
        })?;

    Ok((
        FrameSender { jobs: job_tx },
        FrameReceiver {
            results: result_rx,
            workers: vec![("predictor", predict_worker), ("refiner", refine_worker)],
        },
    ))
}
