//! The two-stage streaming pipeline: the predictor and the refiner each run on a thread of their
//! own with their own session, joined by bounded channels, so that frame n+1's prediction
//! overlaps frame n's refinement. Frames come out in input order.
//!
//! - Dropping every [`FrameSender`] ends the stream: every frame already sent still comes out,
//!   then [`FrameReceiver::recv`] returns `None`.
//! - A failing (or panicking) stage sends its error downstream and stops; the error is the last
//!   item of the stream and further sends fail, so nothing hangs.
//! - [`PipelineControl::cancel`] (a flush) drops everything in flight at once, interrupting the
//!   model runs in progress; [`PipelineControl::join`] then hands the networks back so that a
//!   new pipeline can start without reloading them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded, select};

use crate::bundle::ModelBundle;
use crate::engine::{self, Deblurred, FrameSettings, ModelSpec, Predicted};
use crate::ensemble::SelfEnsemble;
use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::network::{Denoise, Interrupt, Predict};
use crate::onnx::SessionOptions;
use crate::provider::Provider;
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

impl PipelineConfig {
    /// The default shape with each stage's threads following its work per frame (see
    /// [`stage_threads`]).
    pub fn for_work(cores: usize, predictor_work: u64, refiner_work: u64) -> Self {
        let (predictor, refiner) = stage_threads(cores, predictor_work, refiner_work);
        let mut config = PipelineConfig::default();
        config.predictor.threads = predictor;
        config.refiner.threads = refiner;
        config
    }

    /// The default shape for `bundle` sampled with `steps` and `samples`, its predictor run over
    /// the orientations of `ensemble`, on `provider`. On the
    /// CPU, [`Self::for_work`] on this machine's cores, the work counted in FLOPs on a small
    /// frame (both networks are fully convolutional, so the ratio holds at any size); counting
    /// runs both networks once (about 120 ms for the default model). Under CUDA the threads only
    /// serve the few operators left on the CPU, so nothing is counted and each stage keeps the
    /// default half of the cores.
    pub fn balanced(
        bundle: &ModelBundle,
        provider: Provider,
        steps: u32,
        samples: u32,
        ensemble: SelfEnsemble,
    ) -> Result<Self> {
        let mut config = match provider {
            Provider::Cpu => {
                let flops = crate::flops::model_flops(bundle, 64, 64)?;
                Self::for_flops(&flops, steps, samples, ensemble)
            }
            Provider::Cuda { .. } => PipelineConfig::default(),
        };
        config.predictor.provider = provider;
        config.refiner.provider = provider;
        Ok(config)
    }

    /// [`Self::for_work`] on this machine's cores, from operation counts already made.
    pub fn for_flops(
        flops: &crate::flops::ModelFlops,
        steps: u32,
        samples: u32,
        ensemble: SelfEnsemble,
    ) -> Self {
        Self::for_work(
            available_cores(),
            flops.predictor * u64::from(ensemble.size()),
            flops.per_frame(steps, samples) - flops.predictor,
        )
    }
}

/// Intra-op threads for the predictor and the refiner stage, given their work per frame (any
/// unit, for example FLOPs).
///
/// When the lighter stage does at least a third of the work, the cores are divided in proportion
/// (at least one each). When one stage dominates, both get every core: a fixed share would idle
/// while the light stage waits, and sleeping pools cost little when oversubscribed. Measured on
/// 2 cores at 640x360 (`deblur bench --stage-threads`): 4 steps, 1 sample (work 0.7:1) 1+1 beats
/// 2+2 (4.16 against 3.81 fps); 2 steps (0.4:1) 2+2 beats 1+1 (5.12 against 4.09 fps); 4 samples
/// (2.9:1) 2+2 beats 1+1 (1.32 against 0.94 fps).
pub fn stage_threads(cores: usize, predictor_work: u64, refiner_work: u64) -> (usize, usize) {
    let cores = cores.max(1);
    let total = (predictor_work + refiner_work).max(1) as f64;
    let refiner_share = refiner_work as f64 / total;
    if cores == 1 || refiner_share.min(1.0 - refiner_share) < 1.0 / 3.0 {
        return (cores, cores);
    }
    let refiner = ((cores as f64 * refiner_share).round() as usize).clamp(1, cores - 1);
    (cores - refiner, refiner)
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

/// The pipeline's entrance; clones feed the same pipeline. Dropping all of them ends the stream.
#[derive(Clone)]
pub struct FrameSender {
    jobs: Sender<FrameJob>,
}

impl FrameSender {
    /// Queues a frame, blocking while the pipeline is full. Fails when the pipeline has stopped
    /// (after a stage error, which the receiver reports, or a cancel).
    pub fn send(&self, job: FrameJob) -> Result<()> {
        self.jobs.send(job).map_err(|_| Error::PipelineClosed)
    }
}

/// The pipeline's exit.
pub struct FrameReceiver {
    results: Receiver<Result<FrameResult>>,
}

impl FrameReceiver {
    /// The next frame in input order, a stage's error, or `None` at the end of the stream.
    pub fn recv(&self) -> Option<Result<FrameResult>> {
        self.results.recv().ok()
    }
}

impl Iterator for FrameReceiver {
    type Item = Result<FrameResult>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

/// Cancels the pipeline and collects its networks.
pub struct PipelineControl<P, D> {
    /// The cancel channel's only sender. The workers share it too, so that dropping the control
    /// without cancelling leaves the channel open until they are done.
    cancel: Arc<Mutex<Option<Sender<()>>>>,
    interrupters: Vec<Arc<dyn Interrupt>>,
    predictor: JoinHandle<Option<P>>,
    refiner: JoinHandle<Option<D>>,
}

impl<P, D> PipelineControl<P, D> {
    /// Drops every frame in flight: interrupts the model runs in progress and makes both stages
    /// stop as soon as they can. Pending sends fail; the receiver ends.
    pub fn cancel(&mut self) {
        // Dropping the only sender wakes every worker waiting on the cancel channel.
        self.cancel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        for interrupter in &self.interrupters {
            interrupter.interrupt();
        }
    }

    /// Waits until both stages have stopped (the stream ended, or [`Self::cancel`]) and returns
    /// their networks; `None` for a stage that panicked.
    pub fn join(self) -> (Option<P>, Option<D>) {
        let predictor = self.predictor.join().ok().flatten();
        let refiner = self.refiner.join().ok().flatten();
        (predictor, refiner)
    }
}

/// A running pipeline.
pub struct Pipeline<P, D> {
    /// Where frames go in.
    pub sender: FrameSender,
    /// Where they come out.
    pub receiver: FrameReceiver,
    /// Cancel and join.
    pub control: PipelineControl<P, D>,
}

/// Starts the pipeline on `bundle`, creating each stage's session here so that loading errors
/// come back before any frame is sent. The stages stop when the stream ends.
pub fn start(bundle: &ModelBundle, config: PipelineConfig) -> Result<(FrameSender, FrameReceiver)> {
    let predictor = bundle.predictor(config.predictor)?;
    let denoiser = bundle.denoiser(config.refiner)?;
    let pipeline = start_with(predictor, denoiser, ModelSpec::from(bundle), config)?;
    Ok((pipeline.sender, pipeline.receiver))
}

fn cancelled(cancel: &Receiver<()>) -> bool {
    matches!(cancel.try_recv(), Err(TryRecvError::Disconnected))
}

/// Sends `item` unless the pipeline is cancelled first; false when it could not be delivered.
fn forward<T>(to: &Sender<T>, item: T, cancel: &Receiver<()>) -> bool {
    select! {
        send(to, item) -> sent => sent.is_ok(),
        recv(cancel) -> _ => false,
    }
}

/// The next item, or `None` when the input ended or the pipeline was cancelled.
fn next<T>(from: &Receiver<T>, cancel: &Receiver<()>) -> Option<T> {
    select! {
        recv(from) -> item => item.ok(),
        recv(cancel) -> _ => None,
    }
}

fn stage_error(stage: &'static str, frame_index: u64) -> impl FnOnce(Error) -> Error {
    move |e| Error::Stage {
        stage,
        frame_index,
        source: Box::new(e),
    }
}

fn predict_stage<P: Predict>(
    predictor: &mut P,
    spec: &ModelSpec,
    tiling: crate::tiling::Tiling,
    jobs: &Receiver<FrameJob>,
    predicted: &Sender<Result<PredictedJob>>,
    cancel: &Receiver<()>,
) {
    while let Some(job) = next(jobs, cancel) {
        if cancelled(cancel) {
            return;
        }
        let span = tracing::debug_span!("predict", frame = job.frame_index);
        let outcome = span
            .in_scope(|| {
                engine::predict(predictor, spec, tiling, job.settings.ensemble, &job.frame)
            })
            .map(|result| PredictedJob {
                frame_index: job.frame_index,
                settings: job.settings,
                predicted: result,
            })
            .map_err(stage_error("predictor", job.frame_index));
        let failed = outcome.is_err();
        if !forward(predicted, outcome, cancel) || failed {
            return;
        }
    }
}

fn refine_stage<D: Denoise>(
    denoiser: &mut D,
    spec: &ModelSpec,
    predicted: &Receiver<Result<PredictedJob>>,
    results: &Sender<Result<FrameResult>>,
    cancel: &Receiver<()>,
) {
    while let Some(item) = next(predicted, cancel) {
        if cancelled(cancel) {
            return;
        }
        let outcome = item.and_then(|job| {
            let frame_index = job.frame_index;
            let span = tracing::debug_span!("refine", frame = frame_index);
            span.in_scope(|| {
                engine::refine(denoiser, spec, job.predicted, &job.settings, frame_index)
            })
            .map(|deblurred| FrameResult {
                frame_index,
                deblurred,
            })
            .map_err(stage_error("refiner", frame_index))
        });
        let failed = outcome.is_err();
        if !forward(results, outcome, cancel) || failed {
            return;
        }
    }
}

/// Runs `body` with `network`, returning the network unless `body` panicked, in which case the
/// stream is told through `report`.
fn guarded<N, T>(
    stage: &'static str,
    mut network: N,
    report: &Sender<Result<T>>,
    cancel: &Receiver<()>,
    body: impl FnOnce(&mut N),
) -> Option<N> {
    match catch_unwind(AssertUnwindSafe(|| body(&mut network))) {
        Ok(()) => Some(network),
        Err(_) => {
            forward(report, Err(Error::StageLost { stage }), cancel);
            None
        }
    }
}

/// Starts the pipeline on any two networks.
pub fn start_with<P, D>(
    predictor: P,
    denoiser: D,
    spec: ModelSpec,
    config: PipelineConfig,
) -> Result<Pipeline<P, D>>
where
    P: Predict + Send + 'static,
    D: Denoise + Send + 'static,
{
    let in_flight = config.frames_in_flight.max(1);
    let (job_tx, job_rx) = bounded::<FrameJob>(in_flight);
    let (predicted_tx, predicted_rx) = bounded::<Result<PredictedJob>>(1);
    let (result_tx, result_rx) = bounded::<Result<FrameResult>>(in_flight);
    let (cancel_tx, cancel_rx) = bounded::<()>(0);
    let tiling = config.tiling;
    let interrupters: Vec<Arc<dyn Interrupt>> = [predictor.interrupter(), denoiser.interrupter()]
        .into_iter()
        .flatten()
        .collect();
    // A previous cancel leaves the networks interrupted.
    interrupters.iter().for_each(|i| i.resume());

    let cancel_sender = Arc::new(Mutex::new(Some(cancel_tx)));
    let cancel = cancel_rx.clone();
    let keep_open = cancel_sender.clone();
    let predict_worker = std::thread::Builder::new()
        .name("deblur-predict".into())
        .spawn(move || {
            let _keep_open = keep_open;
            guarded("predictor", predictor, &predicted_tx, &cancel, |p| {
                predict_stage(p, &spec, tiling, &job_rx, &predicted_tx, &cancel)
            })
        })
        .map_err(|source| Error::Spawn {
            stage: "predictor",
            source,
        })?;

    let cancel = cancel_rx;
    let keep_open = cancel_sender.clone();
    let refine_worker = std::thread::Builder::new()
        .name("deblur-refine".into())
        .spawn(move || {
            let _keep_open = keep_open;
            guarded("refiner", denoiser, &result_tx, &cancel, |d| {
                refine_stage(d, &spec, &predicted_rx, &result_tx, &cancel)
            })
        })
        .map_err(|source| Error::Spawn {
            stage: "refiner",
            source,
        })?;

    Ok(Pipeline {
        sender: FrameSender { jobs: job_tx },
        receiver: FrameReceiver { results: result_rx },
        control: PipelineControl {
            cancel: cancel_sender,
            interrupters,
            predictor: predict_worker,
            refiner: refine_worker,
        },
    })
}
