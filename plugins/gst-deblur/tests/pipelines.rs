//! Runs every script in `pipelines/` that needs no camera or display, on generated input.

use std::path::{Path, PathBuf};
use std::process::Command;

use gst::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder cargo put libgstdeblur.so in: the test binary lives in its `deps/`.
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libgstdeblur.so").is_file(),
        "libgstdeblur.so not built in {}",
        dir.display()
    );
    dir
}

fn run_launch(launch: &str) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(launch).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let message = pipeline
        .bus()
        .unwrap()
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

/// An MP4 with 20 frames of 96x64 H.264 video and an AAC track.
fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("in.mp4");
    run_launch(&format!(
        "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=96,height=64,framerate=25/1 \
         ! x264enc speed-preset=ultrafast ! queue ! mp4mux name=m ! filesink location={} \
         audiotestsrc num-buffers=20 ! audioconvert ! avenc_aac ! queue ! m.",
        path.display()
    ));
    path
}

fn script(name: &str, args: &[&Path]) {
    let output = Command::new("bash")
        .arg(repo().join("pipelines").join(name))
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env(
            "DEBLUR_PROPS",
            format!(
                "model={} steps=2",
                repo().join("tests/fixtures/tiny").display()
            ),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{name}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// (video frames, video width, audio buffers) of an MP4.
fn probe(path: &Path) -> (usize, i32, usize) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux name=d d.video_0 ! queue ! decodebin ! videoconvert ! appsink name=v sync=false \
         d.audio_0 ! queue ! appsink name=a sync=false",
        path.display()
    ));
    let pipeline = match pipeline {
        Ok(p) => p.downcast::<gst::Pipeline>().unwrap(),
        Err(e) => panic!("{e}"),
    };
    let sink = |name: &str| {
        pipeline
            .by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap()
    };
    let (video, audio) = (sink("v"), sink("a"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let audio_thread = std::thread::spawn(move || {
        std::iter::from_fn(|| audio.try_pull_sample(gst::ClockTime::from_seconds(20))).count()
    });
    let mut frames = 0;
    let mut width = 0;
    while let Some(sample) = video.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        width = sample
            .caps()
            .unwrap()
            .structure(0)
            .unwrap()
            .get::<i32>("width")
            .unwrap();
        frames += 1;
    }
    let audio_buffers = audio_thread.join().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    (frames, width, audio_buffers)
}

/// (video frames, video width) of an MP4 without audio.
fn probe_video(path: &Path) -> (usize, i32) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! appsink name=v sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let video = pipeline
        .by_name("v")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    let mut width = 0;
    while let Some(sample) = video.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        width = sample
            .caps()
            .unwrap()
            .structure(0)
            .unwrap()
            .get::<i32>("width")
            .unwrap();
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (frames, width)
}

#[test]
fn file_to_file_keeps_frames_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let output = dir.path().join("out.mp4");
    script("file-to-file.sh", &[&input, &output]);
    let (frames, width, audio) = probe(&output);
    assert_eq!((frames, width), (20, 96));
    assert_eq!(audio, probe(&input).2);
    assert!(audio > 0);
}

#[test]
fn image_sequence_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    run_launch(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,width=40,height=30 ! pngenc ! multifilesink location={}/in/%05d.png",
        dir.path().display()
    ));
    script(
        "image-sequence.sh",
        &[
            &dir.path().join("in/%05d.png"),
            &dir.path().join("out/%05d.png"),
        ],
    );
    let written: Vec<_> = (0..5)
        .map(|i| dir.path().join(format!("out/{i:05}.png")))
        .collect();
    for path in &written {
        let image = image::open(path).unwrap();
        assert_eq!((image.width(), image.height()), (40, 30));
    }
    assert!(!dir.path().join("out/00005.png").exists());
}

#[test]
fn side_by_side_and_uncertainty_into_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let output = dir.path().join("sbs.mp4");
    script("side-by-side.sh", &[&input, &output]);
    assert_eq!(probe_video(&output), (20, 192));
    let output = dir.path().join("uncertainty.mp4");
    script("uncertainty.sh", &[&input, &output]);
    assert_eq!(probe_video(&output), (20, 96));
}
