//! The sampler's maths, proven with an oracle denoiser that knows the true residual.

mod common;

use common::{OracleDenoiser, PointwiseDenoiser, ScalePredictor, pattern};
use deblur::engine::{self, Extras, FrameSettings, ModelSpec};
use deblur::frame::ValueRange;
use deblur::network::{Denoise, NoiseLevel};
use deblur::noise::{NoiseField, NoiseMode};
use deblur::sampler::{Sampler, SamplingParams};
use deblur::schedule::Schedule;
use deblur::tensor::Tensor;
use deblur::tiling::Tiling;

const LEVELS: [NoiseLevel; 2] = [NoiseLevel::SqrtAlphaBar, NoiseLevel::AlphaBar];

#[test]
fn oracle_denoiser_recovers_the_residual_exactly() {
    let residual = pattern(1, 3, 19, 23, 1, 0.8);
    let blurry = pattern(1, 3, 19, 23, 2, 1.0);
    for steps in [1, 2, 4, 10, 50, 200] {
        for end in [0.01, 0.05, 0.2, 0.5, 0.9] {
            for seed in [0, 1, 12345] {
                for level in LEVELS {
                    let schedule = Schedule::inference(steps, end).unwrap();
                    let mut oracle = OracleDenoiser::new(residual.clone(), &schedule, level);
                    let noise = NoiseField::for_frame(seed, NoiseMode::Locked, 0);
                    let sampler = Sampler::new(&schedule, level, noise, (0, 0));
                    let z0 = sampler.sample(&mut oracle, &blurry, 2).unwrap();
                    assert_eq!(oracle.calls, steps as usize);
                    for s in 0..2 {
                        let worst = z0
                            .item(s)
                            .iter()
                            .zip(residual.data())
                            .map(|(a, b)| (a - b).abs())
                            .fold(0.0f32, f32::max);
                        assert!(
                            worst < 1e-5,
                            "steps {steps} end {end} seed {seed} {level:?}: error {worst}"
                        );
                    }
                }
            }
        }
    }
}

/// With the true ε, every reverse step must turn a draw from q(z_t | r0) into a draw from
/// q(z_{t-1} | r0) = N(√ᾱ_{t-1} r0, (1−ᾱ_{t-1}) I). This checks the posterior mean and variance
/// of every step, not just the last one (which the exact-recovery test pins down).
#[test]
fn reverse_steps_follow_the_forward_marginals() {
    let (h, w) = (128, 128);
    let residual = pattern(1, 3, h, w, 5, 0.5);
    let blurry = Tensor::zeros(1, 3, h, w);
    for (steps, end) in [(10, 0.2), (6, 0.5), (20, 0.05)] {
        let schedule = Schedule::inference(steps, end).unwrap();
        let level = NoiseLevel::SqrtAlphaBar;
        let noise = NoiseField::for_frame(77, NoiseMode::Locked, 0);
        // z_T drawn from the exact forward marginal, with noise the sampler does not use.
        let start = NoiseField::for_frame(78, NoiseMode::Locked, 0);
        let mut z = Tensor::zeros(1, 3, h, w);
        start.fill(0, 0, 0, 0, 3, h, w, z.data_mut());
        let (signal, sigma) = (
            schedule.alpha_bar(steps).sqrt() as f32,
            schedule.one_minus_alpha_bar(steps).sqrt() as f32,
        );
        for (v, &r) in z.data_mut().iter_mut().zip(residual.data()) {
            *v = signal * r + sigma * *v;
        }
        for down_to in [steps - 1, steps / 2, 1] {
            let mut oracle = OracleDenoiser::new(residual.clone(), &schedule, level);
            let sampler = Sampler::new(&schedule, level, noise, (0, 0));
            let zk = sampler
                .reverse(&mut oracle, z.clone(), &blurry, down_to)
                .unwrap();
            let (signal, sigma) = (
                schedule.alpha_bar(down_to).sqrt(),
                schedule.one_minus_alpha_bar(down_to).sqrt(),
            );
            let standardised: Vec<f64> = zk
                .data()
                .iter()
                .zip(residual.data())
                .map(|(&v, &r)| (f64::from(v) - signal * f64::from(r)) / sigma)
                .collect();
            let n = standardised.len() as f64;
            let mean = standardised.iter().sum::<f64>() / n;
            let var = standardised.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            assert!(
                mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
                "T={steps} end={end} at t={down_to}: mean {mean}, variance {var}"
            );
        }
    }
}

fn spec(level: NoiseLevel) -> ModelSpec {
    ModelSpec {
        value_range: ValueRange { lo: -1.0, hi: 1.0 },
        pad_multiple: 1,
        noise_level: level,
    }
}

fn settings(steps: u32, samples: u32, seed: u64) -> FrameSettings {
    FrameSettings {
        sampling: SamplingParams {
            steps,
            schedule_end: 0.3,
            samples,
        },
        seed,
        noise_mode: NoiseMode::Locked,
        ensemble: deblur::SelfEnsemble::OFF,
        extras: Extras {
            predictor: true,
            uncertainty: true,
        },
    }
}

/// The predictor stage on `frame` in one tile, without an ensemble.
fn predict_whole(
    mut predictor: ScalePredictor,
    spec: &ModelSpec,
    frame: &deblur::RgbFrame,
) -> engine::Predicted {
    engine::predict(
        &mut predictor,
        spec,
        Tiling::default(),
        deblur::SelfEnsemble::OFF,
        frame,
    )
    .unwrap()
}

#[test]
fn zero_steps_is_the_predictor_alone() {
    let frame = common::random_frame(31, 17, 3);
    let spec = spec(NoiseLevel::SqrtAlphaBar);
    let predicted = predict_whole(ScalePredictor(0.5), &spec, &frame);
    let mut denoiser = common::PanickingDenoiser;
    let out = engine::refine(&mut denoiser, &spec, predicted, &settings(0, 1, 0), 0).unwrap();
    assert_eq!(Some(&out.image), out.predictor.as_ref());
    let uncertainty = out.uncertainty.unwrap();
    assert!(uncertainty.values.iter().all(|&v| v == 0.0));
}

#[test]
fn sample_averaging_is_the_mean_of_the_batch_samples() {
    let blurry = pattern(1, 3, 12, 16, 9, 1.0);
    let schedule = Schedule::inference(5, 0.4).unwrap();
    let noise = NoiseField::for_frame(4, NoiseMode::Locked, 0);
    let sampler = Sampler::new(&schedule, NoiseLevel::SqrtAlphaBar, noise, (0, 0));
    let batch = sampler.sample(&mut PointwiseDenoiser, &blurry, 4).unwrap();
    let single = sampler.sample(&mut PointwiseDenoiser, &blurry, 1).unwrap();
    // Batch item 0 is the single sample: SA really averages independent samples.
    assert_eq!(batch.item(0), single.item(0));
    assert_ne!(batch.item(0), batch.item(1));

    // Through the engine: the SA output is the mean of the samples and the spread is their std.
    let frame = common::random_frame(16, 12, 9);
    let spec = spec(NoiseLevel::SqrtAlphaBar);
    let run = |samples| {
        let predicted = predict_whole(ScalePredictor(1.0), &spec, &frame);
        engine::refine(
            &mut PointwiseDenoiser,
            &spec,
            predicted,
            &settings(5, samples, 4),
            0,
        )
        .unwrap()
    };
    let sa = run(4);
    let spread = sa.uncertainty.unwrap();
    assert!(
        spread.values.iter().all(|&v| v > 0.0),
        "samples differ, so spread > 0"
    );
    let one = run(1);
    assert!(one.uncertainty.unwrap().values.iter().all(|&v| v == 0.0));
    // Averaging shrinks the distance to the predictor's estimate.
    let distance = |img: &deblur::RgbFrame| -> f64 {
        img.data()
            .iter()
            .zip(frame.data())
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum()
    };
    assert!(distance(&sa.image) < distance(&one.image));
}

#[test]
fn same_seed_same_bits_other_seed_other_bits() {
    let blurry = pattern(1, 3, 20, 24, 3, 1.0);
    let schedule = Schedule::inference(8, 0.2).unwrap();
    let run = |seed| {
        let noise = NoiseField::for_frame(seed, NoiseMode::PerFrame, 3);
        Sampler::new(&schedule, NoiseLevel::SqrtAlphaBar, noise, (0, 0))
            .sample(&mut PointwiseDenoiser, &blurry, 2)
            .unwrap()
    };
    let a = run(42);
    let b = run(42);
    assert!(
        a.data()
            .iter()
            .zip(b.data())
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert_ne!(a, run(43));
}

#[test]
fn sampling_params_are_checked() {
    let bad_samples = SamplingParams {
        steps: 4,
        schedule_end: 0.1,
        samples: 0,
    };
    let message = bad_samples.schedule().unwrap_err().to_string();
    assert!(
        message.contains("samples = 0") && message.contains("1 to 64"),
        "{message}"
    );
    let predictor_only = SamplingParams {
        steps: 0,
        schedule_end: 0.1,
        samples: 1,
    };
    assert!(predictor_only.schedule().unwrap().is_none());
}

#[test]
fn a_denoiser_returning_the_wrong_shape_is_an_error() {
    struct Shrinking;
    impl Denoise for Shrinking {
        fn denoise(&mut self, z: &Tensor, _: &[f32], _: &Tensor) -> deblur::Result<Tensor> {
            let [n, c, h, w] = z.shape();
            Ok(Tensor::zeros(n, c, h - 1, w))
        }
    }
    let schedule = Schedule::inference(2, 0.2).unwrap();
    let noise = NoiseField::for_frame(0, NoiseMode::Locked, 0);
    let sampler = Sampler::new(&schedule, NoiseLevel::SqrtAlphaBar, noise, (0, 0));
    let err = sampler
        .sample(&mut Shrinking, &Tensor::zeros(1, 3, 8, 8), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected [1, 3, 8, 8]"), "{err}");
}
