//! `deblur eval`: work sharing in the sweep, sample averaging from one batch, the metrics on an
//! identity model, the fast-default rule, the report's files, input errors and the CLI.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{PointwiseDenoiser, ScalePredictor, fixture, random_frame, require_runtime};
use deblur::bundle::ModelBundle;
use deblur::error::Result;
use deblur::eval::{
    self, Evaluator, FastDefault, ModelInfo, Pair, Progress, Report, Scores, SweepGrid, SweepPoint,
    TableSettings,
};
use deblur::frame::ValueRange;
use deblur::network::{Denoise, NoiseLevel, Predict};
use deblur::noise::{NoiseField, NoiseMode};
use deblur::tensor::Tensor;
use deblur::{
    Deblurrer, Extras, FrameSettings, ModelSpec, RgbFrame, SamplingParams, SessionOptions, Tiling,
};

const SPEC: ModelSpec = ModelSpec {
    value_range: ValueRange { lo: -1.0, hi: 1.0 },
    pad_multiple: 4,
    noise_level: NoiseLevel::SqrtAlphaBar,
};

/// Counts predictor calls.
struct CountingPredictor {
    inner: ScalePredictor,
    calls: usize,
}

impl Predict for CountingPredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        self.calls += 1;
        self.inner.predict(blurry)
    }
}

/// Records the batch size of every denoiser call.
#[derive(Default)]
struct CountingDenoiser {
    batches: Vec<usize>,
}

impl Denoise for CountingDenoiser {
    fn denoise(&mut self, z: &Tensor, levels: &[f32], blurry: &Tensor) -> Result<Tensor> {
        self.batches.push(z.batch());
        PointwiseDenoiser.denoise(z, levels, blurry)
    }
}

fn pairs(count: usize, width: u32, height: u32) -> Vec<Pair> {
    (0..count as u64)
        .map(|i| Pair {
            name: format!("image{i}"),
            blurry: random_frame(width, height, i + 1),
            sharp: random_frame(width, height, i + 101),
        })
        .collect()
}

fn no_progress() -> impl FnMut(&Progress) {
    |_: &Progress| {}
}

#[test]
fn the_sweep_runs_the_predictor_once_per_image_and_one_batch_per_schedule() {
    let mut evaluator = Evaluator::new(
        CountingPredictor {
            inner: ScalePredictor(0.9),
            calls: 0,
        },
        CountingDenoiser::default(),
        SPEC,
        Tiling::default(),
    );
    let grid = SweepGrid {
        steps: vec![3, 1],
        schedule_ends: vec![0.5, 0.1],
        samples: vec![4, 1, 2],
    };
    let mut reports = Vec::new();
    let sweep = eval::run_sweep(
        &mut evaluator,
        &pairs(3, 40, 30),
        &grid,
        Some(24),
        7,
        &mut |p: &Progress| reports.push(*p),
    )
    .unwrap();
    let (predictor, denoiser) = evaluator.into_networks();
    assert_eq!(predictor.calls, 3, "one predictor pass per image");
    // Per image and schedule, `steps` denoiser calls on one batch of the largest count.
    assert_eq!(denoiser.batches.len(), 3 * (1 + 3) * 2);
    assert!(
        denoiser.batches.iter().all(|&b| b == 4),
        "{:?}",
        denoiser.batches
    );

    assert_eq!(sweep.points.len(), 2 * 2 * 3);
    let settings: Vec<(u32, f64, u32)> = sweep
        .points
        .iter()
        .map(|p| (p.steps, p.schedule_end, p.samples))
        .collect();
    assert_eq!(settings[0], (1, 0.1, 1));
    assert_eq!(settings[2], (1, 0.1, 4));
    assert_eq!(settings[11], (3, 0.5, 4));
    assert_eq!(sweep.images, ["image0", "image1", "image2"]);
    // Progress: a first report, then one per (image, schedule), ending complete.
    let last = reports.last().unwrap();
    assert_eq!(reports.len(), 1 + 3 * 4);
    assert_eq!((last.done, last.work_done), (last.total, last.work_total));
    assert_eq!(last.total, 36);
    assert!(reports.windows(2).all(|w| w[0].done <= w[1].done));
}

#[test]
fn averaging_the_first_samples_of_one_batch_equals_separate_runs() {
    // Tiles of 64 with overlap 16 cut this frame in 2x2, so blending is covered too.
    let tiling = Tiling::new(64, 16).unwrap();
    let frame = random_frame(100, 70, 5);
    let mut evaluator = Evaluator::new(ScalePredictor(0.8), PointwiseDenoiser, SPEC, tiling);
    let predicted = evaluator.predict(&frame).unwrap();
    let noise = NoiseField::for_frame(11, NoiseMode::Locked, 0);
    let batch = evaluator.sample(&predicted, 3, 0.3, 8, noise).unwrap();
    let mut deblurrer = Deblurrer::new(ScalePredictor(0.8), PointwiseDenoiser, SPEC, tiling);
    for samples in [1, 2, 5, 8] {
        let settings = FrameSettings {
            sampling: SamplingParams {
                steps: 3,
                schedule_end: 0.3,
                samples,
            },
            seed: 11,
            noise_mode: NoiseMode::Locked,
            ensemble: deblur::SelfEnsemble::OFF,
            extras: Extras {
                predictor: true,
                uncertainty: true,
            },
        };
        let separate = deblurrer.deblur(&frame, &settings, 0).unwrap();
        let from_batch = batch.mean_of_first(samples as usize).unwrap();
        assert_eq!(from_batch, separate.image, "{samples} samples");
        assert_eq!(predicted.estimate(), separate.predictor.unwrap());
        if samples == 1 {
            assert_eq!(batch.sample(0).unwrap(), separate.image);
        }
        if samples == 8 {
            assert_eq!(batch.spread(), separate.uncertainty.unwrap());
        }
    }
    // Sample i is the same in any batch that holds it: a larger batch gives the same averages.
    let larger = evaluator.sample(&predicted, 3, 0.3, 16, noise).unwrap();
    for samples in [1, 3, 8] {
        assert_eq!(
            larger.mean_of_first(samples).unwrap(),
            batch.mean_of_first(samples).unwrap()
        );
    }
    assert_ne!(batch.sample(0).unwrap(), batch.sample(1).unwrap());
    assert!(batch.mean_of_first(9).is_err() && batch.sample(8).is_err());
}

#[test]
fn the_sa_row_samples_at_the_averaging_schedule_and_one_sample_at_the_default() {
    let photos = pairs(2, 40, 30);
    let mut deblurrer = Deblurrer::new(
        ScalePredictor(0.9),
        PointwiseDenoiser,
        SPEC,
        Tiling::default(),
    );
    let mut evaluator = Evaluator::new(
        ScalePredictor(0.9),
        PointwiseDenoiser,
        SPEC,
        Tiling::default(),
    );
    let settings = TableSettings {
        steps: 2,
        schedule_end: 0.2,
        averaged_samples: 3,
        averaged_steps: 1,
        averaged_schedule_end: 0.9,
        seed: 4,
    };
    let (table, figures) =
        eval::photo_table(&mut evaluator, &photos, &settings, 1, &mut no_progress()).unwrap();
    assert_eq!(table.rows[2].setting, "2 steps, end 0.2");
    assert_eq!(table.rows[3].setting, "1 steps, end 0.9, mean of 3");
    let run = |deblurrer: &mut Deblurrer<_, _>, steps, schedule_end, samples| {
        let settings = FrameSettings {
            sampling: SamplingParams {
                steps,
                schedule_end,
                samples,
            },
            seed: 4,
            noise_mode: NoiseMode::Locked,
            ensemble: deblur::SelfEnsemble::OFF,
            extras: Extras::default(),
        };
        deblurrer
            .deblur(&photos[0].blurry, &settings, 0)
            .unwrap()
            .image
    };
    // What `deblur image` gives with one sample, and with --samples 3 at the averaging schedule.
    assert_eq!(figures[0].sample, run(&mut deblurrer, 2, 0.2, 1));
    assert_eq!(figures[0].average, run(&mut deblurrer, 1, 0.9, 3));
    assert_ne!(figures[0].sample, run(&mut deblurrer, 1, 0.9, 1));
    let one = Scores::measure(&figures[0].sample, &photos[0].sharp).unwrap();
    assert_eq!(table.rows[2].per_image[0], one);

    // The clip table's rows follow the same schedules.
    let clip = eval::clip_table(&mut evaluator, &photos, &settings, &mut no_progress()).unwrap();
    assert_eq!(clip.rows[2].per_image[0], one);
    assert_eq!(
        clip.rows[3].setting,
        "1 steps, end 0.9, mean of 3, noise locked"
    );
    assert_eq!(clip.rows[3].per_image[0], table.rows[3].per_image[0]);
}

fn ort_evaluator(bundle: &ModelBundle) -> Evaluator<impl Predict, impl Denoise> {
    require_runtime();
    let options = SessionOptions::default();
    Evaluator::new(
        bundle.predictor(options).unwrap(),
        bundle.denoiser(options).unwrap(),
        ModelSpec::from(bundle),
        Tiling::default(),
    )
}

#[test]
fn the_identity_model_scores_infinite_psnr_and_detail_ratio_one() {
    let bundle = ModelBundle::load(fixture("identity")).unwrap();
    let mut evaluator = ort_evaluator(&bundle);
    let frame = random_frame(40, 28, 3);
    let same = [Pair {
        name: "same".into(),
        blurry: frame.clone(),
        sharp: frame,
    }];
    let settings = TableSettings {
        steps: 4,
        schedule_end: 0.5,
        averaged_samples: 3,
        averaged_steps: 4,
        averaged_schedule_end: 0.5,
        seed: 1,
    };
    let (table, figures) =
        eval::photo_table(&mut evaluator, &same, &settings, 1, &mut no_progress()).unwrap();
    assert_eq!(table.rows.len(), 4);
    for row in &table.rows {
        assert_eq!(row.scores.psnr, f64::INFINITY, "{}", row.label);
        assert_eq!(row.scores.detail_ratio, 1.0, "{}", row.label);
        assert!((row.scores.ssim - 1.0).abs() < 1e-12, "{}", row.label);
        assert_eq!(row.temporal_error, None);
    }
    assert!(figures[0].uncertainty.values.iter().all(|&v| v < 1e-3));

    let grid = SweepGrid {
        steps: vec![1, 2],
        schedule_ends: vec![0.1, 0.5],
        samples: vec![1, 2],
    };
    let sweep = eval::run_sweep(&mut evaluator, &same, &grid, None, 0, &mut no_progress()).unwrap();
    assert!(sweep.points.iter().all(|p| p.scores.psnr == f64::INFINITY));
    assert!(sweep.points.iter().all(|p| p.scores.detail_ratio == 1.0));
    let fast = eval::choose_fast_default(&sweep.points, sweep.predictor.psnr).unwrap();
    // Every point ties: the cheapest, gentlest wins.
    assert_eq!((fast.point.steps, fast.point.schedule_end), (1, 0.1));
    assert!(fast.meets_psnr_floor);
}

#[test]
fn the_clip_table_reports_temporal_error_for_locked_and_per_frame_noise() {
    let mut evaluator = Evaluator::new(
        ScalePredictor(0.9),
        PointwiseDenoiser,
        SPEC,
        Tiling::default(),
    );
    // A still scene: any change between output frames is flicker.
    let still = random_frame(24, 20, 9);
    let frames: Vec<Pair> = (0..4)
        .map(|i| Pair {
            name: format!("frame{i}"),
            blurry: still.clone(),
            sharp: still.clone(),
        })
        .collect();
    let settings = TableSettings {
        steps: 2,
        schedule_end: 0.5,
        averaged_samples: 2,
        averaged_steps: 2,
        averaged_schedule_end: 0.5,
        seed: 3,
    };
    let table = eval::clip_table(&mut evaluator, &frames, &settings, &mut no_progress()).unwrap();
    let labels: Vec<&str> = table.rows.iter().map(|r| r.setting.as_str()).collect();
    assert_eq!(table.rows.len(), 5, "{labels:?}");
    let temporal: Vec<f64> = table
        .rows
        .iter()
        .map(|r| r.temporal_error.unwrap())
        .collect();
    // Locked noise on a still scene gives identical frames; per-frame noise flickers.
    assert_eq!(&temporal[..4], &[0.0; 4]);
    assert!(temporal[4] > 0.5, "{temporal:?}");
    assert!(table.rows[4].setting.contains("per frame"));
}

fn point(steps: u32, schedule_end: f64, samples: u32, psnr: f64, detail_ratio: f64) -> SweepPoint {
    SweepPoint {
        steps,
        schedule_end,
        samples,
        scores: Scores {
            psnr,
            ssim: 0.9,
            detail_ratio,
        },
    }
}

#[test]
fn the_fast_default_rule_picks_the_most_natural_detail_within_the_psnr_floor() {
    let points = [
        point(2, 0.1, 1, 29.5, 0.8),
        point(2, 0.2, 1, 29.1, 1.1),
        point(1, 0.5, 1, 28.0, 1.0), // below the floor of 30 − 1 dB
        point(4, 0.2, 1, 29.9, 1.0), // too many steps
        point(2, 0.2, 4, 31.0, 1.0), // averaged: too slow
        point(2, 0.05, 1, f64::NAN, f64::NAN),
    ];
    let chosen = eval::choose_fast_default(&points, 30.0).unwrap();
    assert_eq!(chosen.point, points[1]);
    assert!(chosen.meets_psnr_floor);
    assert_eq!((chosen.candidates, chosen.psnr_floor), (4, 29.0));
    assert!(
        chosen.summary().contains("2 steps, schedule end 0.2"),
        "{}",
        chosen.summary()
    );

    // The averaging schedule: the best PSNR among the settings averaging that many samples
    // within the step budget.
    let averaging = eval::choose_averaging_default(&points, 4).unwrap();
    assert_eq!((averaging.point, averaging.candidates), (points[4], 1));
    assert!(
        averaging.summary().contains("averaging 4 samples"),
        "{}",
        averaging.summary()
    );
    let averaged = [
        point(1, 0.5, 8, 30.2, 0.2),
        point(1, 0.99, 8, 30.3, 0.2),
        point(2, 0.99, 8, 30.3, 0.2), // ties with fewer steps lose
        point(4, 0.5, 8, 31.0, 0.2),  // too many steps
        point(1, 0.99, 4, 32.0, 0.2), // another sample count
        point(0, 0.5, 8, 33.0, 0.2),  // the predictor alone is no schedule
        point(1, 0.2, 8, f64::NAN, f64::NAN),
    ];
    let chosen = eval::choose_averaging_default(&averaged, 8).unwrap();
    assert_eq!((chosen.point, chosen.candidates), (averaged[1], 4));
    assert_eq!(eval::choose_averaging_default(&averaged, 16), None);

    // Nothing reaches the floor: the best PSNR among the fast settings.
    let fallback = eval::choose_fast_default(&points, 40.0).unwrap();
    assert_eq!(fallback.point, points[0]);
    assert!(!fallback.meets_psnr_floor);

    // Ties go to fewer steps, then to the gentler schedule.
    let tied = [
        point(2, 0.1, 1, 30.0, 1.25),
        point(1, 0.2, 1, 30.0, 1.25),
        point(1, 0.1, 1, 30.0, 1.25),
    ];
    assert_eq!(
        eval::choose_fast_default(&tied, 30.0).unwrap().point,
        tied[2]
    );

    assert_eq!(
        eval::choose_fast_default(&points[3..5], 30.0),
        None::<FastDefault>
    );
}

#[test]
fn the_report_writes_markdown_svg_and_decodable_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let mut evaluator = Evaluator::new(
        ScalePredictor(0.9),
        PointwiseDenoiser,
        SPEC,
        Tiling::default(),
    );
    let photos = pairs(2, 48, 36);
    let settings = TableSettings {
        steps: 2,
        schedule_end: 0.2,
        averaged_samples: 3,
        averaged_steps: 1,
        averaged_schedule_end: 0.5,
        seed: 0,
    };
    let (table, figures) =
        eval::photo_table(&mut evaluator, &photos, &settings, 1, &mut no_progress()).unwrap();
    let clip = eval::clip_table(&mut evaluator, &photos, &settings, &mut no_progress()).unwrap();
    let grid = SweepGrid {
        steps: vec![1, 2],
        schedule_ends: vec![0.1, 0.5],
        samples: vec![1, 2],
    };
    let sweep = eval::run_sweep(
        &mut evaluator,
        &photos,
        &grid,
        Some(32),
        0,
        &mut no_progress(),
    )
    .unwrap();
    let fast = eval::choose_fast_default(&sweep.points, sweep.predictor.psnr);
    let averaging = eval::choose_averaging_default(&sweep.points, 2);
    let bundle = ModelBundle::load(fixture("tiny")).unwrap();
    let report = Report {
        model: ModelInfo::from(&bundle),
        photos: Some((&table, "test pairs".into())),
        figures: &figures,
        clip: Some((&clip, "test clip".into())),
        sweep: Some(&sweep),
        fast_default: fast.as_ref(),
        averaging_default: averaging.as_ref(),
        defaults_written: None,
        command: "scripts/results.sh".into(),
        invocation: Some("deblur eval --blurry b --sharp s".into()),
        note: Some("Inputs made by the test.".into()),
        date: eval::report::utc_now(),
        machine: eval::report::describe_machine(),
        elapsed: std::time::Duration::from_secs(75),
    };
    let results = dir.path().join("docs/RESULTS.md");
    let images = dir.path().join("docs/images");
    let written = report.write(&results, &images).unwrap();
    assert_eq!(written.len(), 1 + 2 + 2, "{written:?}");

    let markdown = std::fs::read_to_string(&results).unwrap();
    for expected in [
        "| Blurry input | — |",
        "| Predictor only | 0 steps |",
        "| SA (3 samples) | 1 steps, end 0.5, mean of 3 |",
        "| One sample | 2 steps, end 0.2 |",
        "### The averaging schedule",
        "temporal error ↓",
        "noise per frame",
        "](images/results-pd.png)",
        "](images/results-pd.svg)",
        "](images/results-crops-image0.png)",
        "](images/results-uncertainty-image0.png)",
        "scripts/results.sh",
        "deblur eval --blurry b --sharp s",
        "Inputs made by the test.",
        "1m15s",
        "Detail ratio",
        "Perceptual metrics",
        "fixture-tiny",
    ] {
        assert!(
            markdown.contains(expected),
            "no {expected:?} in\n{markdown}"
        );
    }
    let svg = std::fs::read_to_string(images.join("results-pd.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Predictor only") && svg.contains("<circle"));
    let plot = image::open(images.join("results-pd.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (960, 640));
    let crops = image::open(images.join("results-crops-image0.png")).unwrap();
    assert_eq!(crops.width(), 5 * 48 + 4 * 6);
    let uncertainty = image::open(images.join("results-uncertainty-image0.png")).unwrap();
    assert_eq!(uncertainty.width(), 2 * 48 + 6);
}

fn save(dir: &Path, name: &str, frame: RgbFrame) {
    std::fs::create_dir_all(dir).unwrap();
    image::RgbImage::from(frame).save(dir.join(name)).unwrap();
}

#[test]
fn missing_pairs_and_size_mismatches_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (blurry, sharp) = (dir.path().join("blurry"), dir.path().join("sharp"));
    save(&blurry, "a.png", random_frame(20, 16, 1));
    save(&sharp, "a.png", random_frame(20, 16, 2));
    save(&blurry, "b.jpg", random_frame(20, 16, 3));
    // The same stem in another format pairs up.
    save(&sharp, "b.png", random_frame(20, 16, 4));
    let loaded = eval::load_pairs(&blurry, &sharp).unwrap();
    assert_eq!(
        loaded.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );

    save(&blurry, "c.png", random_frame(20, 16, 5));
    let message = eval::load_pairs(&blurry, &sharp).unwrap_err().to_string();
    assert!(
        message.contains("c.png") && message.contains("no sharp image"),
        "{message}"
    );

    save(&sharp, "c.png", random_frame(20, 16, 6));
    save(&sharp, "d.png", random_frame(20, 16, 7));
    let message = eval::load_pairs(&blurry, &sharp).unwrap_err().to_string();
    assert!(
        message.contains("d.png") && message.contains("no blurry image"),
        "{message}"
    );

    std::fs::remove_file(sharp.join("d.png")).unwrap();
    save(&sharp, "c.png", random_frame(21, 16, 6));
    let message = eval::load_pairs(&blurry, &sharp).unwrap_err().to_string();
    assert!(
        message.contains("c.png") && message.contains("20x16") && message.contains("21x16"),
        "{message}"
    );

    let message = eval::load_pairs(&dir.path().join("none"), &sharp)
        .unwrap_err()
        .to_string();
    assert!(message.contains("none"), "{message}");

    let (clip_blurry, clip_sharp) = (dir.path().join("cb"), dir.path().join("cs"));
    for i in 0..3 {
        save(&clip_blurry, &format!("f{i}.png"), random_frame(20, 16, i));
    }
    for i in 0..2 {
        save(&clip_sharp, &format!("g{i}.png"), random_frame(20, 16, i));
    }
    let message = eval::load_clip(&clip_blurry, &clip_sharp)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("f2.png") && message.contains("3 blurry"),
        "{message}"
    );
    save(&clip_sharp, "g2.png", random_frame(20, 16, 9));
    assert_eq!(eval::load_clip(&clip_blurry, &clip_sharp).unwrap().len(), 3);
}

#[test]
fn writing_defaults_changes_only_default_sampling() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["deblur-model.json", "predictor.onnx", "denoiser.onnx"] {
        std::fs::copy(fixture("tiny").join(file), dir.path().join(file)).unwrap();
    }
    let before = ModelBundle::load(dir.path()).unwrap().manifest().clone();
    let path = eval::write_default_sampling(dir.path(), 2, 0.2).unwrap();
    assert_eq!(path, dir.path().join("deblur-model.json"));
    let after = ModelBundle::load(dir.path()).unwrap();
    let tuned = after.default_sampling();
    assert_eq!((tuned.steps, tuned.schedule_end), (2, 0.2));
    let mut unchanged = after.manifest().clone();
    unchanged.default_sampling = before.default_sampling;
    assert_eq!(unchanged, before);
    assert!(eval::write_default_sampling(dir.path(), 2, 1.5).is_err());

    eval::write_averaging_sampling(dir.path(), 1, 0.99).unwrap();
    let after = ModelBundle::load(dir.path()).unwrap();
    let tuned = after.tuned_sampling();
    assert_eq!((tuned.single.steps, tuned.single.schedule_end), (2, 0.2));
    assert_eq!(
        (tuned.averaged.steps, tuned.averaged.schedule_end),
        (1, 0.99)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.find("\"default_sampling\"") < text.find("\"averaging_sampling\"")
            && text.find("\"averaging_sampling\"") < text.find("\"predictor\""),
        "{text}"
    );
}

fn deblur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the deblur binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_eval_runs_end_to_end_on_the_tiny_model() {
    require_runtime();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..2 {
        save(
            &root.join("blurry"),
            &format!("p{i}.png"),
            random_frame(40, 32, i),
        );
        save(
            &root.join("sharp"),
            &format!("p{i}.png"),
            random_frame(40, 32, i + 10),
        );
    }
    for i in 0..3 {
        save(
            &root.join("cb"),
            &format!("{i:03}.png"),
            random_frame(24, 20, i),
        );
        save(
            &root.join("cs"),
            &format!("{i:03}.png"),
            random_frame(24, 20, i + 10),
        );
    }
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["deblur-model.json", "predictor.onnx", "denoiser.onnx"] {
        std::fs::copy(fixture("tiny").join(file), model.join(file)).unwrap();
    }
    let path = |p: &str| root.join(p).to_str().unwrap().to_string();
    let (blurry, sharp, cb, cs) = (path("blurry"), path("sharp"), path("cb"), path("cs"));
    let (results, images, model) = (path("out/RESULTS.md"), path("out/img"), path("model"));
    let mut args = vec![
        "eval",
        "--blurry",
        &blurry,
        "--sharp",
        &sharp,
        "--clip-blurry",
        &cb,
        "--clip-sharp",
        &cs,
        "--model",
        &model,
        "--steps-grid",
        "1,2",
        "--ends-grid",
        "0.1,0.5",
        "--samples-grid",
        "1,2",
        "--crop",
        "24",
        "--sa-samples",
        "2",
        "--figures",
        "1",
        "--threads",
        "1",
        "--results",
        &results,
        "--images-dir",
        &images,
    ];
    let run = deblur(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("Fast default:"), "{stdout}");
    assert!(
        text(&run.stderr).contains("sweep: 16/16 points"),
        "{}",
        text(&run.stderr)
    );
    let markdown = std::fs::read_to_string(&results).unwrap();
    assert!(markdown.contains("deblur eval --blurry"), "{markdown}");
    image::open(root.join("out/img/results-pd.png")).unwrap();

    args.push("--write-defaults");
    let run = deblur(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("wrote default_sampling"));
    assert!(text(&run.stdout).contains("wrote averaging_sampling"));
    let tuned = ModelBundle::load(&model).unwrap().tuned_sampling();
    for chosen in [tuned.single, tuned.averaged] {
        assert!(chosen.steps <= 2 && [0.1, 0.5].contains(&chosen.schedule_end));
    }

    let embedded = deblur(&[
        "eval",
        "--blurry",
        &blurry,
        "--sharp",
        &sharp,
        "--write-defaults",
    ]);
    assert!(!embedded.status.success());
    assert!(
        text(&embedded.stderr).contains("embedded"),
        "{}",
        text(&embedded.stderr)
    );

    // Schedules tuned under a self-ensemble would not suit the plain predictor users run.
    let manifest_path = std::path::Path::new(&model).join("deblur-model.json");
    let manifest = std::fs::read(&manifest_path).unwrap();
    let ensembled = deblur(&[
        "eval",
        "--blurry",
        &blurry,
        "--sharp",
        &sharp,
        "--model",
        &model,
        "--ensemble",
        "8",
        "--write-defaults",
    ]);
    assert!(!ensembled.status.success());
    assert!(
        text(&ensembled.stderr).contains("write-defaults = with --ensemble 8"),
        "{}",
        text(&ensembled.stderr)
    );
    assert_eq!(std::fs::read(&manifest_path).unwrap(), manifest);

    let nothing = deblur(&["eval"]);
    assert!(!nothing.status.success());
    assert!(
        text(&nothing.stderr).contains("--blurry DIR"),
        "{}",
        text(&nothing.stderr)
    );
}
