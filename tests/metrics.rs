//! The Rust metrics agree with training/deblur_train/metrics.py, which the model card uses.

mod common;

use std::path::Path;
use std::process::Command;

use common::random_frame;
use deblur::RgbFrame;
use deblur::metrics::{detail_ratio, psnr, ssim, temporal_error};

/// A smooth gradient with a bit of texture, so that SSIM and the Laplacian see structure.
fn textured(width: u32, height: u32, seed: u64) -> RgbFrame {
    let noise = random_frame(width, height, seed);
    let data = noise
        .data()
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let pixel = i / 3;
            let (x, y) = (pixel as u32 % width, pixel as u32 / width);
            ((x * 3 + y * 2) as f32 * 0.8 + f32::from(n) * 0.2).min(255.0) as u8
        })
        .collect();
    RgbFrame::new(width, height, data).unwrap()
}

fn python_metrics(a: &Path, b: &Path) -> Vec<f64> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = "import sys, numpy as np; from PIL import Image; \
        sys.path.insert(0, 'training'); from deblur_train import metrics as m; \
        a = np.asarray(Image.open(sys.argv[1])); b = np.asarray(Image.open(sys.argv[2])); \
        print(m.psnr(a, b), m.ssim(a, b), m.detail_ratio(a, b))";
    let output = Command::new(root.join(".venv/bin/python"))
        .current_dir(root)
        .args(["-c", script])
        .arg(a)
        .arg(b)
        .output()
        .expect(".venv/bin/python runs: run scripts/setup.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn rust_and_python_metrics_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (textured(53, 37, 1), textured(53, 37, 2));
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    image::RgbImage::from(a.clone()).save(&pa).unwrap();
    image::RgbImage::from(b.clone()).save(&pb).unwrap();
    let python = python_metrics(&pa, &pb);
    let rust = [
        psnr(&a, &b).unwrap(),
        ssim(&a, &b).unwrap(),
        detail_ratio(&a, &b).unwrap(),
    ];
    for (name, (r, p)) in ["psnr", "ssim", "detail"]
        .iter()
        .zip(rust.iter().zip(&python))
    {
        assert!(
            (r - p).abs() < 1e-9 * p.abs().max(1.0),
            "{name}: rust {r}, python {p}"
        );
    }
}

#[test]
fn identical_images_score_perfectly() {
    let a = textured(40, 30, 3);
    assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
    assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
    assert!((detail_ratio(&a, &a).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(temporal_error(&a, &a, &a, &a).unwrap(), 0.0);
}

#[test]
fn temporal_error_grows_with_flicker() {
    let (r0, r1) = (textured(20, 20, 4), textured(20, 20, 5));
    // Output that follows the reference exactly, shifted by a constant: no flicker.
    let shift = |f: &RgbFrame| {
        RgbFrame::new(20, 20, f.data().iter().map(|&v| v / 2 + 10).collect()).unwrap()
    };
    let steady = temporal_error(&shift(&r1), &shift(&r0), &r1, &r0).unwrap();
    let flicker = temporal_error(&r1, &r0, &r0, &r0).unwrap();
    assert!(flicker > steady);
    assert!(temporal_error(&r1, &r0, &r1, &r0).unwrap() == 0.0);
    assert!(psnr(&r0, &textured(21, 20, 4)).is_err());
}
