//! Frames of any size: conversion, reflect padding, cropping, tiling and blending.

mod common;

use common::{IdentityPredictor, PointwiseDenoiser, ZeroResidualDenoiser, random_frame};
use deblur::engine::{Deblurrer, Extras, FrameSettings, ModelSpec};
use deblur::frame::{self, RgbFrame, ValueRange, reflect_index};
use deblur::network::NoiseLevel;
use deblur::noise::NoiseMode;
use deblur::sampler::SamplingParams;
use deblur::tiling::{Blender, TileGrid, Tiling};
use proptest::prelude::*;

const RANGE: ValueRange = ValueRange { lo: -1.0, hi: 1.0 };

fn spec(pad_multiple: usize) -> ModelSpec {
    ModelSpec {
        value_range: RANGE,
        pad_multiple,
        noise_level: NoiseLevel::SqrtAlphaBar,
    }
}

fn settings(steps: u32, samples: u32) -> FrameSettings {
    FrameSettings {
        sampling: SamplingParams {
            steps,
            schedule_end: 0.5,
            samples,
        },
        seed: 11,
        noise_mode: NoiseMode::PerFrame,
        ensemble: deblur::SelfEnsemble::OFF,
        extras: Extras::default(),
    }
}

#[test]
fn reflect_padding_mirrors_without_repeating_the_edge() {
    let row: Vec<usize> = (0..9).map(|i| reflect_index(i, 4)).collect();
    assert_eq!(row, [0, 1, 2, 3, 2, 1, 0, 1, 2]);
    assert_eq!(reflect_index(5, 1), 0);

    // A 3x2 frame padded to 4x4: the padded column is column 1, the padded rows mirror rows.
    let frame = RgbFrame::new(3, 2, (0..18).collect()).unwrap();
    let tensor = frame::region_to_tensor(&frame, frame.region(), RANGE, 4);
    assert_eq!(tensor.shape(), [1, 3, 4, 4]);
    let red: Vec<u8> = tensor.data()[..16]
        .iter()
        .map(|&v| RANGE.to_byte(v))
        .collect();
    assert_eq!(red, [0, 3, 6, 3, 9, 12, 15, 12, 0, 3, 6, 3, 9, 12, 15, 12]);
}

#[test]
fn byte_values_survive_the_float_round_trip() {
    for range in [RANGE, ValueRange { lo: 0.0, hi: 1.0 }] {
        for byte in 0..=255u8 {
            assert_eq!(range.to_byte(range.from_byte(byte)), byte);
        }
    }
}

#[test]
fn identity_model_returns_every_size_exactly() {
    let sizes = [
        (1, 1),
        (1, 7),
        (13, 1),
        (2, 3),
        (37, 53),
        (640, 360),
        (65, 129),
    ];
    for (width, height) in sizes {
        for (pad, tile_size, overlap) in [(1, 1280, 32), (8, 64, 16), (16, 64, 0)] {
            let frame = random_frame(width, height, u64::from(width * 31 + height));
            let tiling = Tiling::new(tile_size, overlap).unwrap();
            let mut deblurrer =
                Deblurrer::new(IdentityPredictor, ZeroResidualDenoiser, spec(pad), tiling);
            for steps in [0, 3] {
                let out = deblurrer.deblur(&frame, &settings(steps, 2), 0).unwrap();
                assert!(
                    out.image == frame,
                    "{width}x{height} pad {pad} tile {tile_size}/{overlap} steps {steps}"
                );
            }
        }
    }
}

#[test]
fn identity_model_returns_a_4k_frame_exactly_across_tile_seams() {
    let frame = random_frame(3840, 2160, 4);
    let tiling = Tiling::default();
    // 6 x 3 tiles of the default 768 px.
    assert_eq!(TileGrid::new(3840, 2160, tiling).tiles().len(), 18);
    let mut deblurrer = Deblurrer::new(IdentityPredictor, ZeroResidualDenoiser, spec(16), tiling);
    let out = deblurrer.deblur(&frame, &settings(1, 1), 0).unwrap();
    assert!(out.image == frame);
}

#[test]
fn stochastic_output_is_the_same_tiled_or_whole() {
    // A pixel-wise network makes each output pixel a function of its own input and noise only,
    // so any difference between tiled and whole-frame output would be a seam.
    let frame = random_frame(301, 203, 8);
    let run = |tiling| {
        let mut deblurrer = Deblurrer::new(IdentityPredictor, PointwiseDenoiser, spec(8), tiling);
        deblurrer.deblur(&frame, &settings(4, 2), 5).unwrap().image
    };
    let whole = run(Tiling::default());
    let tiled = run(Tiling::new(96, 24).unwrap());
    assert_ne!(whole, frame, "the stand-in changes the frame");
    let worst = whole
        .data()
        .iter()
        .zip(tiled.data())
        .map(|(&a, &b)| a.abs_diff(b))
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "tiled output differs from whole-frame output by {worst}/255"
    );
}

#[test]
fn frames_of_the_wrong_byte_count_are_refused() {
    let message = RgbFrame::new(4, 4, vec![0; 47]).unwrap_err().to_string();
    assert!(
        message.contains("47 bytes") && message.contains("expected 48"),
        "{message}"
    );
    let message = RgbFrame::new(0, 4, vec![]).unwrap_err().to_string();
    assert!(message.contains("0x4"), "{message}");
}

#[test]
fn tiling_settings_are_checked() {
    let message = Tiling::new(32, 0).unwrap_err().to_string();
    assert!(
        message.contains("tile-size = 32") && message.contains("64 to 16384"),
        "{message}"
    );
    let message = Tiling::new(128, 65).unwrap_err().to_string();
    assert!(
        message.contains("tile-overlap = 65") && message.contains("(64)"),
        "{message}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pad_then_crop_is_lossless(
        width in 1u32..40, height in 1u32..40, multiple in 1usize..17, seed in any::<u64>()
    ) {
        let frame = random_frame(width, height, seed);
        let tensor = frame::region_to_tensor(&frame, frame.region(), RANGE, multiple);
        let [_, _, h, w] = tensor.shape();
        prop_assert!(h % multiple == 0 && w % multiple == 0);
        prop_assert!(h < height as usize + multiple && w < width as usize + multiple);
        let back = frame::tensor_to_frame(
            &frame::crop(&tensor, width as usize, height as usize),
            RANGE,
        );
        prop_assert_eq!(back, frame);
    }

    #[test]
    fn tiles_cover_the_frame_and_blend_back_exactly(
        width in 1usize..300, height in 1usize..300,
        tile_size in 64usize..160, overlap_percent in 0usize..50, seed in any::<u64>()
    ) {
        let tiling = Tiling::new(tile_size, tile_size * overlap_percent / 100).unwrap();
        let grid = TileGrid::new(width, height, tiling);
        let frame = random_frame(width as u32, height as u32, seed);
        let mut blender = Blender::new(3, width, height);
        for tile in grid.tiles() {
            let r = tile.region;
            prop_assert!(r.width <= tile_size && r.height <= tile_size);
            prop_assert!(r.x + r.width <= width && r.y + r.height <= height);
            let t = frame::region_to_tensor(&frame, r, RANGE, 8);
            blender.add(tile, t.data(), t.width(), t.height());
        }
        let back = frame::tensor_to_frame(&blender.finish(), RANGE);
        prop_assert_eq!(back, frame);
    }
}
