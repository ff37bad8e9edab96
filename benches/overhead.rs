//! What the library adds around the networks, per 640x360 frame: conversion and padding (the
//! predictor stage without its network) and noise, step arithmetic, sample statistics and
//! blending (the refiner stage without its network). The networks here cost nothing, so every
//! nanosecond measured is overhead that the bare ONNX Runtime loop does not pay.

use criterion::{Criterion, criterion_group, criterion_main};
use deblur::engine::{self, Extras, FrameSettings, ModelSpec};
use deblur::frame::ValueRange;
use deblur::network::{Denoise, NoiseLevel, Predict};
use deblur::tensor::Tensor;
use deblur::{NoiseMode, RgbFrame, SamplingParams, Tiling};

struct Free;

impl Predict for Free {
    fn predict(&mut self, blurry: &Tensor) -> deblur::Result<Tensor> {
        Ok(blurry.clone())
    }
}

impl Denoise for Free {
    fn denoise(&mut self, z: &Tensor, _: &[f32], _: &Tensor) -> deblur::Result<Tensor> {
        Ok(z.clone())
    }
}

fn frame() -> RgbFrame {
    let (w, h) = (640u32, 360u32);
    let data = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    RgbFrame::new(w, h, data).unwrap()
}

fn overhead(c: &mut Criterion) {
    let spec = ModelSpec {
        value_range: ValueRange { lo: -1.0, hi: 1.0 },
        pad_multiple: 16,
        noise_level: NoiseLevel::SqrtAlphaBar,
    };
    let frame = frame();
    let mut group = c.benchmark_group("640x360");
    group.sample_size(20);
    let predict = || {
        engine::predict(
            &mut Free,
            &spec,
            Tiling::default(),
            deblur::SelfEnsemble::OFF,
            &frame,
        )
        .unwrap()
    };
    group.bench_function("predict stage (no network)", |b| b.iter(predict));
    for (steps, samples) in [(1, 1), (4, 1), (4, 4)] {
        let settings = FrameSettings {
            sampling: SamplingParams {
                steps,
                schedule_end: 0.2,
                samples,
            },
            seed: 0,
            noise_mode: NoiseMode::Locked,
            ensemble: deblur::SelfEnsemble::OFF,
            extras: Extras::default(),
        };
        group.bench_function(
            format!("refine stage (no network), {steps} steps, {samples} samples"),
            |b| {
                b.iter_batched(
                    predict,
                    |predicted| engine::refine(&mut Free, &spec, predicted, &settings, 0).unwrap(),
                    criterion::BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
