//! Loading model bundles on ONNX Runtime, and every way a bundle can be broken.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, random_frame, require_runtime};
use deblur::engine::{Deblurrer, Extras, FrameSettings, ModelSpec};
use deblur::{Error, ModelBundle, NoiseMode, RgbFrame, SamplingParams, SessionOptions, Tiling};

/// A scratch copy of the `tiny` fixture bundle.
fn tiny_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["deblur-model.json", "predictor.onnx", "denoiser.onnx"] {
        std::fs::copy(fixture("tiny").join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn open(path: &Path) -> Result<(), Error> {
    ModelBundle::load(path)?.check()
}

fn expect_error(path: &Path, needles: &[&str]) {
    require_runtime();
    let message = open(path)
        .expect_err("a broken bundle must not load")
        .to_string();
    for needle in needles {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn fixtures_and_the_embedded_model_load() {
    require_runtime();
    for name in ["tiny", "identity"] {
        open(&fixture(name)).unwrap();
    }
    // The manifest's own path works as well as its directory.
    open(&fixture("tiny").join("deblur-model.json")).unwrap();
    let embedded = ModelBundle::embedded().unwrap();
    embedded.check().unwrap();
    assert!(embedded.origin().contains("embedded"));
    assert_eq!(
        ModelBundle::load_or_default(Some(Path::new("")))
            .unwrap()
            .origin(),
        embedded.origin()
    );
}

#[test]
fn a_missing_directory_or_file_is_named() {
    expect_error(
        Path::new("/nonexistent/model"),
        &["/nonexistent/model/deblur-model.json"],
    );
    let (_dir, path) = tiny_copy();
    std::fs::remove_file(path.join("denoiser.onnx")).unwrap();
    expect_error(
        &path,
        &["cannot read model file", "denoiser.onnx", "No such file"],
    );
}

#[test]
fn a_corrupt_onnx_file_is_named() {
    let (_dir, path) = tiny_copy();
    std::fs::write(path.join("predictor.onnx"), b"this is not a protobuf").unwrap();
    expect_error(&path, &["cannot load ONNX model", "predictor.onnx"]);
    let (_dir, path) = tiny_copy();
    let bytes = std::fs::read(path.join("denoiser.onnx")).unwrap();
    std::fs::write(path.join("denoiser.onnx"), &bytes[..bytes.len() / 2]).unwrap();
    expect_error(&path, &["cannot load ONNX model", "denoiser.onnx"]);
}

#[test]
fn interface_violations_name_expected_and_found() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "predictor_wrong_name.onnx",
            "predictor.onnx",
            &["input names", "expected [\"blurry\"]", "found [\"image\"]"],
        ),
        (
            "predictor_four_channels.onnx",
            "predictor.onnx",
            &["input `blurry`", "expected 3 channels", "found 4"],
        ),
        (
            "predictor_double.onnx",
            "predictor.onnx",
            &[
                "input `blurry`",
                "expected element type Float32",
                "found Float64",
            ],
        ),
        (
            "denoiser_level_rank2.onnx",
            "denoiser.onnx",
            &["input `noise_level`", "expected rank 1", "found rank 2"],
        ),
        (
            "denoiser_wrong_name.onnx",
            "denoiser.onnx",
            &[
                "input names",
                "\"noisy_residual\"",
                "found [\"blurry\", \"noise_level\", \"noisy\"]",
            ],
        ),
    ];
    for (broken, replaces, needles) in cases {
        let (_dir, path) = tiny_copy();
        std::fs::copy(fixture("broken").join(broken), path.join(replaces)).unwrap();
        let mut needles = needles.to_vec();
        needles.push(replaces);
        needles.push("does not match the deblur bundle format");
        expect_error(&path, &needles);
    }
}

#[test]
fn manifest_errors_say_what_was_expected() {
    let edits: [(&str, &str, &str); 5] = [
        (
            "\"format_version\": 1",
            "\"format_version\": 7",
            "format_version is 7: expected 1",
        ),
        (
            "\"pad_multiple\": 4",
            "\"pad_multiple\": 0",
            "pad_multiple is 0: expected 1 to 1024",
        ),
        ("\"sqrt_alpha_bar\"", "\"sigma\"", "unknown variant `sigma`"),
        (
            "\"value_range\": [\n    -1.0,\n    1.0\n  ]",
            "\"value_range\": [1.0, -1.0]",
            "expected finite [lo, hi] with lo < hi",
        ),
        (
            "\"predictor\": \"predictor.onnx\",",
            "",
            "missing field `predictor`",
        ),
    ];
    for (from, to, needle) in edits {
        let (_dir, path) = tiny_copy();
        let manifest = path.join("deblur-model.json");
        let text = std::fs::read_to_string(&manifest).unwrap();
        assert!(text.contains(from), "fixture manifest lacks {from:?}");
        std::fs::write(&manifest, text.replace(from, to)).unwrap();
        let message = ModelBundle::load(&path).unwrap_err().to_string();
        assert!(
            message.contains(needle) && message.contains("deblur-model.json"),
            "{message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn an_averaging_schedule_applies_to_several_samples_only() {
    let (_dir, path) = tiny_copy();
    let manifest = path.join("deblur-model.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let with = |averaging: &str| {
        std::fs::write(
            &manifest,
            text.replace(
                "\"predictor\":",
                &format!("\"averaging_sampling\": {averaging},\n  \"predictor\":"),
            ),
        )
        .unwrap();
        ModelBundle::load(&path)
    };
    let tuned = ModelBundle::load(&path).unwrap().tuned_sampling();
    assert_eq!(
        tuned.averaged, tuned.single,
        "no averaging_sampling: the default schedule"
    );

    // The fixture's networks are the tiny ones, named relative to its manifest.
    let tuned = ModelBundle::load(fixture("tiny-averaging"))
        .unwrap()
        .tuned_sampling();
    let single = tuned.for_samples(1);
    assert_eq!(
        (single.steps, single.schedule_end, single.samples),
        (4, 0.5, 1)
    );
    let averaged = tuned.for_samples(8);
    assert_eq!(
        (averaged.steps, averaged.schedule_end, averaged.samples),
        (2, 0.9, 8)
    );

    let message = with(r#"{"steps": 1, "schedule_end": 1.5}"#)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("averaging_sampling") && message.contains("1.5"),
        "{message}"
    );
}

fn settings(steps: u32, samples: u32, seed: u64) -> FrameSettings {
    FrameSettings {
        sampling: SamplingParams {
            steps,
            schedule_end: 0.5,
            samples,
        },
        seed,
        noise_mode: NoiseMode::Locked,
        ensemble: deblur::SelfEnsemble::OFF,
        extras: Extras::default(),
    }
}

fn onnx_deblurrer(
    name: &str,
    tiling: Tiling,
) -> Deblurrer<deblur::onnx::OnnxPredictor, deblur::onnx::OnnxDenoiser> {
    require_runtime();
    let bundle = ModelBundle::load(fixture(name)).unwrap();
    let options = SessionOptions::default();
    Deblurrer::new(
        bundle.predictor(options).unwrap(),
        bundle.denoiser(options).unwrap(),
        ModelSpec::from(&bundle),
        tiling,
    )
}

#[test]
fn onnx_identity_bundle_returns_its_input_through_padding_and_tiles() {
    let mut deblurrer = onnx_deblurrer("identity", Tiling::new(64, 16).unwrap());
    for (w, h) in [(1, 1), (5, 3), (150, 97)] {
        let frame = random_frame(w, h, 1);
        for steps in [0, 2] {
            let out = deblurrer.deblur(&frame, &settings(steps, 3, 0), 0).unwrap();
            assert!(out.image == frame, "{w}x{h} steps {steps}");
        }
    }
}

#[test]
fn onnx_self_ensemble_turns_every_estimate_back_through_padding_and_tiles() {
    // An identity predictor is symmetric: every orientation, turned back, is the input again,
    // also where a quarter turn swaps the padded sides and tiles are not square.
    let mut deblurrer = onnx_deblurrer("identity", Tiling::new(64, 16).unwrap());
    for (w, h) in [(1, 1), (5, 3), (150, 97)] {
        let frame = random_frame(w, h, 1);
        for size in deblur::SelfEnsemble::SIZES {
            let settings = FrameSettings {
                ensemble: deblur::SelfEnsemble::new(size).unwrap(),
                ..settings(0, 1, 0)
            };
            let out = deblurrer.deblur(&frame, &settings, 0).unwrap();
            assert!(out.image == frame, "{w}x{h} ensemble {size}");
        }
    }

    // The tiny model is not symmetric, so each ensemble size gives another estimate; the mean
    // over the frame and its mirror image is symmetric: mirroring the input mirrors the output,
    // bit for bit (a width that needs no padding keeps the two runs the same pair).
    let mut deblurrer = onnx_deblurrer("tiny", Tiling::default());
    let frame = random_frame(48, 28, 2);
    let mirrored = mirror(&frame);
    let mut predict = |frame: &RgbFrame, size| {
        let settings = FrameSettings {
            ensemble: deblur::SelfEnsemble::new(size).unwrap(),
            ..settings(0, 1, 0)
        };
        deblurrer.deblur(frame, &settings, 0).unwrap().image
    };
    let outputs: Vec<RgbFrame> = deblur::SelfEnsemble::SIZES
        .iter()
        .map(|&size| predict(&frame, size))
        .collect();
    for (i, a) in outputs.iter().enumerate() {
        assert_eq!((a.width(), a.height()), (48, 28));
        for b in &outputs[i + 1..] {
            assert!(a != b, "ensembles of different sizes agree");
        }
    }
    assert!(
        mirror(&predict(&mirrored, 1)) != outputs[0],
        "tiny is symmetric"
    );
    assert!(mirror(&predict(&mirrored, 2)) == outputs[1]);
}

fn mirror(frame: &RgbFrame) -> RgbFrame {
    let row = frame.width() as usize * 3;
    let data = frame
        .data()
        .chunks_exact(row)
        .flat_map(|r| r.chunks_exact(3).rev().flatten().copied())
        .collect();
    RgbFrame::new(frame.width(), frame.height(), data).unwrap()
}

#[test]
fn onnx_output_is_bit_identical_for_a_seed_and_handles_odd_sizes() {
    let mut deblurrer = onnx_deblurrer("tiny", Tiling::default());
    let frame = random_frame(45, 29, 2);
    let a = deblurrer
        .deblur(&frame, &settings(3, 2, 9), 0)
        .unwrap()
        .image;
    let b = deblurrer
        .deblur(&frame, &settings(3, 2, 9), 0)
        .unwrap()
        .image;
    let c = deblurrer
        .deblur(&frame, &settings(3, 2, 10), 0)
        .unwrap()
        .image;
    assert_eq!((a.width(), a.height()), (45, 29));
    assert!(a == b, "same seed, same bits");
    assert!(a != c, "another seed, other noise");
    assert!(a != frame, "the tiny model changes the frame");
}
