//! The two-stage pipeline: order, end of stream, overlap of stages, failures without hangs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    FailingPredictor, IdentityPredictor, PanickingDenoiser, PointwiseDenoiser, fixture,
    random_frame, require_runtime,
};
use deblur::engine::{Extras, FrameSettings, ModelSpec};
use deblur::frame::ValueRange;
use deblur::network::{Denoise, NoiseLevel, Predict};
use deblur::pipeline::{self, FrameJob, Pipeline, PipelineConfig};
use deblur::tensor::Tensor;
use deblur::{Error, ModelBundle, NoiseMode, RgbFrame, SamplingParams};

const SPEC: ModelSpec = ModelSpec {
    value_range: ValueRange { lo: -1.0, hi: 1.0 },
    pad_multiple: 4,
    noise_level: NoiseLevel::SqrtAlphaBar,
};

fn settings(mode: NoiseMode) -> FrameSettings {
    FrameSettings {
        sampling: SamplingParams {
            steps: 3,
            schedule_end: 0.4,
            samples: 1,
        },
        seed: 5,
        noise_mode: mode,
        ensemble: deblur::SelfEnsemble::OFF,
        extras: Extras::default(),
    }
}

fn job(index: u64, frame: RgbFrame, mode: NoiseMode) -> FrameJob {
    FrameJob {
        frame_index: index,
        frame,
        settings: settings(mode),
    }
}

/// Runs `body` on a thread and fails the test if it takes longer than `limit` (a hang).
fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no answer within {limit:?}: the pipeline hangs"))
}

#[test]
fn every_frame_comes_out_in_order_after_the_sender_is_dropped() {
    within(Duration::from_secs(60), || {
        let Pipeline {
            sender, receiver, ..
        } = pipeline::start_with(
            IdentityPredictor,
            PointwiseDenoiser,
            SPEC,
            PipelineConfig::default(),
        )
        .unwrap();
        let frames: Vec<RgbFrame> = (0..12).map(|i| random_frame(33, 21, i)).collect();
        let inputs = frames.clone();
        // Feed from another thread so the bounded channels exert back-pressure for real.
        let feeder = std::thread::spawn(move || {
            for (i, frame) in inputs.into_iter().enumerate() {
                sender
                    .send(job(i as u64, frame, NoiseMode::Locked))
                    .unwrap();
            }
        });
        let results: Vec<_> = receiver.map(|r| r.unwrap()).collect();
        feeder.join().unwrap();
        assert_eq!(results.len(), frames.len());
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.frame_index, i as u64);
            assert_eq!(result.deblurred.image.width(), 33);
        }
        // Distinct inputs give distinct outputs: frames are not mixed up.
        assert_ne!(results[0].deblurred.image, results[1].deblurred.image);
    });
}

#[test]
fn onnx_pipeline_matches_the_single_threaded_engine() {
    require_runtime();
    let bundle = ModelBundle::load(fixture("tiny")).unwrap();
    let frames: Vec<RgbFrame> = (0..5).map(|i| random_frame(41, 27, 100 + i)).collect();
    let (sender, receiver) = pipeline::start(&bundle, PipelineConfig::default()).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        sender
            .send(job(i as u64, frame.clone(), NoiseMode::PerFrame))
            .unwrap();
    }
    drop(sender);
    let piped: Vec<RgbFrame> = receiver.map(|r| r.unwrap().deblurred.image).collect();
    let options = deblur::SessionOptions::default();
    let mut engine = deblur::Deblurrer::new(
        bundle.predictor(options).unwrap(),
        bundle.denoiser(options).unwrap(),
        ModelSpec::from(&bundle),
        deblur::Tiling::default(),
    );
    assert_eq!(piped.len(), frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let direct = engine
            .deblur(frame, &settings(NoiseMode::PerFrame), i as u64)
            .unwrap();
        assert!(direct.image == piped[i], "frame {i}");
    }
}

/// One network call: which stage, when it started and ended.
type Call = (&'static str, Instant, Instant);

/// Records when each call ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Call>>>);

struct SlowPredictor(Log);
struct SlowDenoiser(Log);

impl Predict for SlowPredictor {
    fn predict(&mut self, blurry: &Tensor) -> deblur::Result<Tensor> {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        self.0
            .0
            .lock()
            .unwrap()
            .push(("predict", start, Instant::now()));
        Ok(blurry.clone())
    }
}

impl Denoise for SlowDenoiser {
    fn denoise(&mut self, z: &Tensor, _: &[f32], _: &Tensor) -> deblur::Result<Tensor> {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(10));
        self.0
            .0
            .lock()
            .unwrap()
            .push(("refine", start, Instant::now()));
        Ok(z.clone())
    }
}

#[test]
fn the_next_prediction_overlaps_the_current_refinement() {
    let log = Log::default();
    let Pipeline {
        sender, receiver, ..
    } = pipeline::start_with(
        SlowPredictor(log.clone()),
        SlowDenoiser(log.clone()),
        SPEC,
        PipelineConfig::default(),
    )
    .unwrap();
    for i in 0..4 {
        sender
            .send(job(i, random_frame(8, 8, i), NoiseMode::Locked))
            .unwrap();
    }
    drop(sender);
    assert!(receiver.map(|r| r.unwrap().frame_index).eq(0..4));
    let calls = log.0.lock().unwrap().clone();
    let overlapping = calls
        .iter()
        .filter(|(kind, ..)| *kind == "predict")
        .any(|(_, ps, pe)| {
            calls
                .iter()
                .any(|(kind, rs, re)| *kind == "refine" && ps < re && rs < pe)
        });
    assert!(
        overlapping,
        "no prediction ran while a refinement ran: {calls:?}"
    );
}

#[test]
fn a_failing_stage_ends_the_stream_with_its_error() {
    within(Duration::from_secs(60), || {
        let predictor = FailingPredictor {
            fail_on: 3,
            calls: 0,
        };
        let Pipeline {
            sender, receiver, ..
        } = pipeline::start_with(
            predictor,
            PointwiseDenoiser,
            SPEC,
            PipelineConfig::default(),
        )
        .unwrap();
        // Keep sending until the pipeline refuses: it must refuse, not block forever.
        let mut refused = false;
        for i in 0..100 {
            if sender
                .send(job(i, random_frame(16, 16, i), NoiseMode::Locked))
                .is_err()
            {
                refused = true;
                break;
            }
        }
        assert!(refused, "sends after a stage failure must fail");
        for expected in 0..3 {
            let ok = receiver.recv().unwrap().unwrap();
            assert_eq!(ok.frame_index, expected);
        }
        let err = receiver.recv().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Stage {
                    stage: "predictor",
                    frame_index: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("injected predictor failure"));
        assert!(receiver.recv().is_none());
    });
}

#[test]
fn a_panicking_stage_is_reported_not_hung() {
    within(Duration::from_secs(60), || {
        let Pipeline {
            sender, receiver, ..
        } = pipeline::start_with(
            IdentityPredictor,
            PanickingDenoiser,
            SPEC,
            PipelineConfig::default(),
        )
        .unwrap();
        sender
            .send(job(0, random_frame(8, 8, 0), NoiseMode::Locked))
            .unwrap();
        drop(sender);
        let err = receiver.recv().unwrap().unwrap_err();
        assert!(
            matches!(err, Error::StageLost { stage: "refiner" }),
            "{err}"
        );
        assert!(receiver.recv().is_none());
    });
}

fn run_segment(frames: &[RgbFrame], first_index: u64, mode: NoiseMode) -> Vec<RgbFrame> {
    let Pipeline {
        sender, receiver, ..
    } = pipeline::start_with(
        IdentityPredictor,
        PointwiseDenoiser,
        SPEC,
        PipelineConfig::default(),
    )
    .unwrap();
    for (i, frame) in frames.iter().enumerate() {
        sender
            .send(job(first_index + i as u64, frame.clone(), mode))
            .unwrap();
    }
    drop(sender);
    receiver.map(|r| r.unwrap().deblurred.image).collect()
}

#[test]
fn per_frame_noise_makes_segments_match_one_pass() {
    let frames: Vec<RgbFrame> = (0..6).map(|i| random_frame(20, 12, 40 + i)).collect();
    let whole = run_segment(&frames, 0, NoiseMode::PerFrame);
    let tail = run_segment(&frames[3..], 3, NoiseMode::PerFrame);
    assert_eq!(&whole[3..], &tail[..]);
    // Same input at two indices: per-frame noise differs, locked noise does not.
    let still = vec![frames[0].clone(), frames[0].clone()];
    let per_frame = run_segment(&still, 0, NoiseMode::PerFrame);
    assert_ne!(per_frame[0], per_frame[1]);
    let locked = run_segment(&still, 0, NoiseMode::Locked);
    assert_eq!(locked[0], locked[1]);
}

#[test]
fn cancel_drops_frames_in_flight_and_hands_the_networks_back() {
    within(Duration::from_secs(60), || {
        let log = Log::default();
        let Pipeline {
            sender,
            receiver,
            mut control,
        } = pipeline::start_with(
            SlowPredictor(log.clone()),
            SlowDenoiser(log.clone()),
            SPEC,
            PipelineConfig::default(),
        )
        .unwrap();
        let feeder = std::thread::spawn(move || {
            (0..50)
                .take_while(|&i| {
                    sender
                        .send(job(i, random_frame(8, 8, i), NoiseMode::Locked))
                        .is_ok()
                })
                .count()
        });
        let first = receiver.recv().unwrap().unwrap();
        assert_eq!(first.frame_index, 0);
        control.cancel();
        let sent = feeder.join().unwrap();
        assert!(
            sent < 50,
            "sends must fail once cancelled, {sent} went through"
        );
        // What was already finished may still come out, in order; then the stream ends.
        let rest: Vec<u64> = receiver.map(|r| r.unwrap().frame_index).collect();
        assert!(
            rest.iter().copied().eq(1..1 + rest.len() as u64),
            "{rest:?}"
        );
        assert!(rest.len() < 49);
        let (predictor, denoiser) = control.join();
        let (predictor, denoiser) = (predictor.unwrap(), denoiser.unwrap());

        // The same networks serve a new pipeline.
        let Pipeline {
            sender, receiver, ..
        } = pipeline::start_with(predictor, denoiser, SPEC, PipelineConfig::default()).unwrap();
        sender
            .send(job(7, random_frame(8, 8, 7), NoiseMode::Locked))
            .unwrap();
        drop(sender);
        let again: Vec<u64> = receiver.map(|r| r.unwrap().frame_index).collect();
        assert_eq!(again, [7]);
    });
}

#[test]
fn an_interrupted_onnx_run_reports_cancelled_until_resumed() {
    require_runtime();
    let bundle = ModelBundle::load(fixture("tiny")).unwrap();
    let mut predictor = bundle.predictor(deblur::SessionOptions::default()).unwrap();
    let input = Tensor::zeros(1, 3, 16, 16);
    let interrupter = predictor
        .interrupter()
        .expect("ONNX networks can be interrupted");
    interrupter.interrupt();
    assert!(matches!(predictor.predict(&input), Err(Error::Cancelled)));
    interrupter.resume();
    assert_eq!(predictor.predict(&input).unwrap().shape(), [1, 3, 16, 16]);
}

#[test]
fn stage_threads_follow_the_stage_balance() {
    use deblur::pipeline::stage_threads;
    // Close work: the cores are shared in proportion, at least one each.
    assert_eq!(stage_threads(2, 526, 384), (1, 1));
    assert_eq!(stage_threads(8, 500, 500), (4, 4));
    assert_eq!(stage_threads(8, 600, 400), (5, 3));
    assert_eq!(stage_threads(16, 100, 200), (5, 11));
    // One stage dominates (predictor only, few steps, many samples): every core for both.
    assert_eq!(stage_threads(2, 526, 0), (2, 2));
    assert_eq!(stage_threads(2, 526, 192), (2, 2));
    assert_eq!(stage_threads(2, 526, 1536), (2, 2));
    assert_eq!(stage_threads(8, 526, 1536), (8, 8));
    // One core, and no work at all.
    assert_eq!(stage_threads(1, 1, 1), (1, 1));
    assert_eq!(stage_threads(4, 0, 0), (4, 4));
}

#[test]
fn balanced_counts_work_on_the_cpu_and_keeps_the_default_under_cuda() {
    common::require_runtime();
    let bundle = ModelBundle::load(fixture("tiny")).unwrap();
    let (steps, samples) = (2, 4);

    let cpu = PipelineConfig::balanced(
        &bundle,
        deblur::Provider::Cpu,
        steps,
        samples,
        deblur::SelfEnsemble::OFF,
    )
    .unwrap();
    let flops = deblur::flops::model_flops(&bundle, 64, 64).unwrap();
    let counted = PipelineConfig::for_flops(&flops, steps, samples, deblur::SelfEnsemble::OFF);
    assert_eq!(
        (cpu.predictor.threads, cpu.refiner.threads),
        (counted.predictor.threads, counted.refiner.threads)
    );
    assert_eq!(cpu.predictor.provider, deblur::Provider::Cpu);

    let cuda = deblur::Provider::Cuda { device: 1 };
    let gpu =
        PipelineConfig::balanced(&bundle, cuda, steps, samples, deblur::SelfEnsemble::OFF).unwrap();
    let default = PipelineConfig::default();
    assert_eq!(
        (gpu.predictor.threads, gpu.refiner.threads),
        (default.predictor.threads, default.refiner.threads)
    );
    assert_eq!((gpu.predictor.provider, gpu.refiner.provider), (cuda, cuda));
}
