//! The `deblur` element under the gst-check Harness and in real pipelines.

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstdeblur::plugin_register_static().expect("the plugin registers");
    });
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

/// A `deblur` element with the tiny fixture model and `properties`.
fn element(model: &str, properties: &[(&str, glib::Value)]) -> gst::Element {
    init();
    let element = gst::ElementFactory::make("deblur")
        .property("model", model)
        .build()
        .unwrap();
    for (name, value) in properties {
        element.set_property_from_value(name, value);
    }
    element
}

/// A harness around a `deblur` element with `properties` set before it starts.
fn harness(caps: &str, properties: &[(&str, glib::Value)]) -> Harness {
    let element = element(&fixture_str("tiny"), properties);
    let mut h = Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(caps);
    h.play();
    h
}

use gst::glib;

const MS: gst::ClockTime = gst::ClockTime::MSECOND;

/// A frame of deterministic noise, `size` bytes, with timestamps of frame `index` at 25 fps.
fn buffer(size: usize, index: u64) -> gst::Buffer {
    let mut state = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(40 * MS * index);
        b.set_dts(40 * MS * index + MS);
        b.set_duration(40 * MS);
        b.set_offset(index);
        if index == 0 {
            b.set_flags(gst::BufferFlags::DISCONT);
        } else {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

fn rgb_caps(width: u32, height: u32) -> String {
    format!("video/x-raw,format=RGB,width={width},height={height},framerate=25/1")
}

fn bytes(buffer: &gst::Buffer) -> Vec<u8> {
    buffer.map_readable().unwrap().as_slice().to_vec()
}

#[test]
fn every_frame_comes_out_with_its_timestamps_under_eos() {
    let mut h = harness(&rgb_caps(40, 30), &[("steps", 3i32.to_value())]);
    let inputs: Vec<gst::Buffer> = (0..10).map(|i| buffer(40 * 30 * 3, i)).collect();
    for input in &inputs {
        h.push(input.clone()).unwrap();
    }
    // EOS right away, with frames still in flight: all of them must come out first.
    assert!(h.push_event(gst::event::Eos::new()));
    for input in &inputs {
        let output = h.pull().unwrap();
        assert_eq!(output.pts(), input.pts());
        assert_eq!(output.dts(), input.dts());
        assert_eq!(output.duration(), input.duration());
        assert_eq!(output.offset(), input.offset());
        assert_eq!(output.flags(), input.flags());
        assert_eq!(output.size(), input.size());
        assert_ne!(
            bytes(&output),
            bytes(input),
            "the tiny model changes frames"
        );
    }
    let mut saw_eos = false;
    while let Some(event) = h.try_pull_event() {
        saw_eos |= event.type_() == gst::EventType::Eos;
    }
    assert!(saw_eos || h.pull_event().unwrap().type_() == gst::EventType::Eos);
    assert!(h.try_pull().is_none());
    let element = h.element().unwrap();
    assert_eq!(element.property::<u64>("frames-processed"), 10);
    assert!(element.property::<f64>("refine-ms") > 0.0);
    assert_eq!(
        element
            .property::<Option<String>>("active-provider")
            .as_deref(),
        Some("cpu")
    );
}

/// Bytes of one frame as GStreamer lays it out (rows padded to 4 bytes).
fn frame_size(caps: &str) -> usize {
    init();
    gst_video::VideoInfo::from_caps(&caps.parse::<gst::Caps>().unwrap())
        .unwrap()
        .size()
}

#[test]
fn odd_tiny_and_large_frames_in_every_format() {
    let cases = [
        ("RGB", 1, 1),
        ("RGB", 33, 17),
        ("RGBA", 7, 5),
        ("BGRx", 15, 9),
        ("RGBx", 2, 3),
        ("BGRA", 9, 9),
        ("I420", 31, 17),
        ("NV12", 64, 36),
        ("I420", 1920, 1080),
    ];
    for (format, width, height) in cases {
        let caps =
            format!("video/x-raw,format={format},width={width},height={height},framerate=25/1");
        let size = frame_size(&caps);
        let mut h = harness(
            &caps,
            &[
                ("steps", 1i32.to_value()),
                ("tile-size", 1024u32.to_value()),
            ],
        );
        for i in 0..2 {
            let pushed = h.push(buffer(size, i));
            assert!(pushed.is_ok(), "{format} {width}x{height}: {pushed:?}");
        }
        for i in 0..2 {
            let out = h.pull().unwrap();
            assert_eq!(out.size(), size, "{format} {width}x{height}");
            assert_eq!(out.pts(), Some(40 * MS * i));
        }
    }
}

#[test]
fn a_caps_change_in_mid_stream_renegotiates_in_order() {
    let mut h = harness(&rgb_caps(24, 16), &[]);
    for i in 0..3 {
        h.push(buffer(24 * 16 * 3, i)).unwrap();
    }
    h.set_src_caps_str("video/x-raw,format=I420,width=48,height=40,framerate=25/1");
    for i in 3..6 {
        h.push(buffer(48 * 40 * 3 / 2, i)).unwrap();
    }
    let sizes: Vec<usize> = (0..6).map(|_| h.pull().unwrap().size()).collect();
    assert_eq!(sizes, [1152, 1152, 1152, 2880, 2880, 2880]);
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("format").unwrap(), "I420");
    assert_eq!(s.get::<i32>("width").unwrap(), 48);
}

#[test]
fn each_output_mode() {
    let (w, h_px) = (32u32, 20u32);
    let size = (w * h_px * 3) as usize;
    let run = |output: &str, steps: i32, samples: u32| -> gst::Buffer {
        let mut h = harness(
            &rgb_caps(w, h_px),
            &[
                ("steps", steps.to_value()),
                ("samples", samples.to_value()),
                ("seed", 3u64.to_value()),
            ],
        );
        h.element().unwrap().set_property_from_str("output", output);
        h.push(buffer(size, 1)).unwrap();
        h.pull().unwrap()
    };
    let deblurred = run("deblurred", 3, 1);
    let predictor = run("predictor", 3, 1);
    let predictor_only = run("deblurred", 0, 1);
    assert_eq!(
        bytes(&predictor),
        bytes(&predictor_only),
        "predictor output = steps 0"
    );
    assert_ne!(bytes(&predictor), bytes(&deblurred));

    let side_by_side = run("side-by-side", 3, 1);
    assert_eq!(side_by_side.size(), 2 * size);
    let (row, pair) = ((w * 3) as usize, bytes(&side_by_side));
    let input = bytes(&buffer(size, 1));
    let out = bytes(&deblurred);
    for y in 0..h_px as usize {
        assert_eq!(
            &pair[2 * y * row..(2 * y + 1) * row],
            &input[y * row..(y + 1) * row]
        );
        assert_eq!(
            &pair[(2 * y + 1) * row..(2 * y + 2) * row],
            &out[y * row..(y + 1) * row]
        );
    }

    let calm = run("uncertainty", 3, 1);
    assert!(
        bytes(&calm).iter().all(|&b| b == 0),
        "one sample has no spread"
    );
    let spread = run("uncertainty", 3, 4);
    assert!(bytes(&spread).iter().any(|&b| b > 0), "four samples differ");
}

#[test]
fn properties_change_while_playing() {
    let size = 24 * 16 * 3;
    let mut h = harness(&rgb_caps(24, 16), &[("steps", 2i32.to_value())]);
    let element = h.element().unwrap();
    h.push(buffer(size, 0)).unwrap();
    let two_steps = h.pull().unwrap();

    element.set_property("steps", 0i32);
    h.push(buffer(size, 0)).unwrap();
    let no_steps = h.pull().unwrap();
    assert_ne!(bytes(&two_steps), bytes(&no_steps));

    element.set_property("steps", 2i32);
    element.set_property("samples", 3u32);
    h.push(buffer(size, 0)).unwrap();
    let averaged = h.pull().unwrap();
    assert_ne!(bytes(&averaged), bytes(&two_steps));

    element.set_property_from_str("output", "side-by-side");
    h.push(buffer(size, 0)).unwrap();
    assert_eq!(h.pull().unwrap().size(), 2 * size);
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(caps.structure(0).unwrap().get::<i32>("width").unwrap(), 48);
    element.set_property_from_str("output", "deblurred");
    h.push(buffer(size, 0)).unwrap();
    assert_eq!(h.pull().unwrap().size(), size);

    // Settings that need a restart are refused while playing.
    element.set_property("tile-size", 512u32);
    assert_eq!(
        element.property::<u32>("tile-size"),
        deblur::Tiling::DEFAULT_TILE_SIZE as u32
    );
}

#[test]
fn the_ensemble_property_averages_the_predictor_like_the_library() {
    init();
    let (w, h_px) = (24u32, 16u32);
    let input = buffer((w * h_px * 3) as usize, 0);
    let predicted = |ensemble: &str| {
        let mut h = harness(&rgb_caps(w, h_px), &[("steps", 0i32.to_value())]);
        h.element()
            .unwrap()
            .set_property_from_str("ensemble", ensemble);
        h.push(input.clone()).unwrap();
        bytes(&h.pull().unwrap())
    };
    let (off, all) = (predicted("off"), predicted("all"));
    assert_ne!(off, all, "the tiny predictor is not symmetric");
    // The values, as `deblur video --ensemble 8` sets them, work as well as the nicks.
    assert_eq!(predicted("8"), all);
    assert_eq!(predicted("1"), off);

    let bundle = deblur::ModelBundle::load(fixture("tiny")).unwrap();
    let options = deblur::SessionOptions::default();
    let mut deblurrer = deblur::Deblurrer::new(
        bundle.predictor(options).unwrap(),
        bundle.denoiser(options).unwrap(),
        deblur::ModelSpec::from(&bundle),
        deblur::Tiling::default(),
    );
    let frame = deblur::RgbFrame::new(w, h_px, bytes(&input)).unwrap();
    let settings = deblur::FrameSettings {
        sampling: deblur::SamplingParams {
            steps: 0,
            schedule_end: 0.5,
            samples: 1,
        },
        seed: 0,
        noise_mode: deblur::NoiseMode::Locked,
        extras: deblur::Extras::default(),
        ensemble: deblur::SelfEnsemble::FULL,
    };
    let library = deblurrer.deblur(&frame, &settings, 0).unwrap().image;
    assert_eq!(library.data(), &all[..]);
}

#[test]
fn samples_above_one_take_the_models_averaging_schedule() {
    // Tuned for 4 steps to 0.5, and for 2 steps to 0.9 when samples are averaged.
    let model = fixture_str("tiny-averaging");
    let size = 24 * 16 * 3;
    let frame = |properties: &[(&str, glib::Value)]| {
        let element = element(&model, properties);
        let mut h = Harness::with_element(&element, Some("sink"), Some("src"));
        h.set_src_caps_str(&rgb_caps(24, 16));
        h.play();
        h.push(buffer(size, 0)).unwrap();
        bytes(&h.pull().unwrap())
    };
    let samples = ("samples", 3u32.to_value());
    let averaged = frame(std::slice::from_ref(&samples));
    let explicit = [
        samples.clone(),
        ("steps", 2i32.to_value()),
        ("schedule-end", 0.9f64.to_value()),
    ];
    assert_eq!(averaged, frame(&explicit));
    let at_default = [
        samples.clone(),
        ("steps", 4i32.to_value()),
        ("schedule-end", 0.5f64.to_value()),
    ];
    assert_ne!(averaged, frame(&at_default));
    // One sample keeps the default schedule.
    let default_explicit = [
        ("steps", 4i32.to_value()),
        ("schedule-end", 0.5f64.to_value()),
    ];
    assert_eq!(frame(&[]), frame(&default_explicit));
}

#[test]
fn flush_in_mid_processing_drops_stale_frames_without_deadlock() {
    let size = 256 * 160 * 3;
    let mut h = harness(
        &rgb_caps(256, 160),
        &[
            ("steps", 40i32.to_value()),
            ("frames-in-flight", 1u32.to_value()),
        ],
    );
    // A second thread keeps pushing, so that it is blocked inside the element when the
    // flush comes.
    let srcpad = h.srcpad().unwrap();
    let pusher = std::thread::spawn(move || {
        let mut pushed = 0;
        for i in 0..40 {
            if srcpad.push(buffer(size, i)).is_err() {
                break;
            }
            pushed += 1;
        }
        pushed
    });
    let first = h.pull().unwrap();
    assert_eq!(first.pts(), Some(gst::ClockTime::ZERO));
    assert!(h.push_event(gst::event::FlushStart::new()));
    let pushed = pusher.join().unwrap();
    assert!(
        pushed < 40,
        "pushes must fail with FLUSHING, {pushed} went through"
    );
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    while h.try_pull().is_some() {}

    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(h.push_event(gst::event::Segment::new(&segment)));
    h.element().unwrap().set_property("steps", 1i32);
    for i in 100..103 {
        h.push(buffer(size, i)).unwrap();
    }
    for i in 100..103 {
        assert_eq!(
            h.pull().unwrap().pts(),
            Some(40 * MS * i),
            "a stale frame came out after the flush"
        );
    }
    assert!(h.try_pull().is_none());
}

#[test]
fn qos_lowers_steps_before_it_drops_frames() {
    let size = 16 * 16 * 3;
    let mut h = harness(&rgb_caps(16, 16), &[("steps", 3i32.to_value())]);
    let element = h.element().unwrap();
    assert_eq!(element.property::<i32>("qos-steps"), -1);
    let late = |h: &mut Harness, at: u64| {
        let event = gst::event::Qos::new(
            gst::QOSType::Underflow,
            2.0,
            400_000_000,
            Some(40 * MS * at),
        );
        assert!(h.push_upstream_event(event));
    };
    for (round, expected) in [(0u64, 2), (1, 1), (2, 0)] {
        late(&mut h, round);
        assert_eq!(element.property::<i32>("qos-steps"), expected);
        h.push(buffer(size, round)).unwrap();
        h.pull().unwrap();
    }
    assert_eq!(
        element.property::<u64>("frames-dropped"),
        0,
        "steps are lowered first"
    );
    // Steps are at 0 and this frame is still late: it is dropped.
    late(&mut h, 3);
    h.push(buffer(size, 3)).unwrap();
    assert_eq!(element.property::<u64>("frames-dropped"), 1);
    // A frame well after the late window goes through, and being on time raises steps again.
    h.push(buffer(size, 100)).unwrap();
    assert_eq!(h.pull().unwrap().pts(), Some(40 * MS * 100));
    let early = gst::event::Qos::new(
        gst::QOSType::Underflow,
        0.5,
        -20_000_000,
        Some(40 * MS * 100),
    );
    assert!(h.push_upstream_event(early));
    assert_eq!(element.property::<i32>("qos-steps"), 1);
}

#[test]
fn latency_covers_frames_in_flight_and_compute() {
    let size = 32 * 32 * 3;
    let mut h = harness(&rgb_caps(32, 32), &[("frames-in-flight", 3u32.to_value())]);
    h.push(buffer(size, 0)).unwrap();
    h.pull().unwrap();
    let latency = h
        .query_latency()
        .expect("the element answers the latency query");
    assert!(latency >= 3 * 40 * MS, "{latency} < 3 frames of 40 ms");
    let element = h.element().unwrap();
    let compute = element.property::<f64>("predict-ms") + element.property::<f64>("refine-ms");
    assert!(latency.nseconds() as f64 >= 120e6 + compute * 1e6 * 0.99);
}

/// A pipeline around a `deblur` element with `model`; returns the error message of its start.
fn start_error(model: &str) -> String {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,width=32,height=32 ! deblur name=d model=\"{model}\" ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let failed = pipeline.set_state(gst::State::Playing).is_err();
    let bus = pipeline.bus().unwrap();
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error message on the bus");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(failed, "the start must fail");
    match message.view() {
        gst::MessageView::Error(e) => e.error().to_string(),
        _ => unreachable!(),
    }
}

#[test]
fn a_broken_model_fails_the_start_with_a_clear_error() {
    let message = start_error("/nonexistent/model");
    assert!(
        message.contains("/nonexistent/model/deblur-model.json"),
        "{message}"
    );

    let dir = tempfile_dir();
    for name in ["deblur-model.json", "denoiser.onnx"] {
        std::fs::copy(fixture("tiny").join(name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("predictor.onnx"), b"garbage").unwrap();
    let message = start_error(dir.to_str().unwrap());
    assert!(
        message.contains("cannot load ONNX model") && message.contains("predictor.onnx"),
        "{message}"
    );
}

#[test]
fn an_unavailable_provider_fails_the_start_instead_of_falling_back() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=3 ! video/x-raw,width=32,height=32 ! deblur provider=cuda device-id=0 ! fakesink",
    )
    .unwrap();
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let message = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error])
        .expect("an error message");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = message.view() else {
        unreachable!()
    };
    let text = e.error().to_string();
    assert!(
        text.contains("execution provider cuda:0 is not available"),
        "{text}"
    );
}

#[test]
fn the_active_provider_is_reported() {
    let h = harness(&rgb_caps(16, 16), &[]);
    let element = h.element().unwrap();
    assert_eq!(
        element
            .property::<Option<String>>("active-provider")
            .as_deref(),
        Some("cpu")
    );
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "deblur-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_runtime_library_fails_the_start_with_the_fix() {
    // ONNX Runtime is loaded once per process, so the check runs in a child process.
    if std::env::var_os("DEBLUR_TEST_CHILD").is_some() {
        let message = start_error("");
        assert!(
            message.contains("ONNX Runtime library not found"),
            "{message}"
        );
        assert!(message.contains("scripts/setup.sh"), "{message}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_missing_runtime_library_fails_the_start_with_the_fix",
            "--exact",
            "--nocapture",
        ])
        .env("DEBLUR_TEST_CHILD", "1")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn an_error_in_mid_stream_stops_the_stream_without_a_hang() {
    // The denoiser works up to 64x64 (so the start succeeds) and fails on this 128x128 stream.
    let dir = tempfile_dir();
    for name in ["deblur-model.json", "predictor.onnx"] {
        std::fs::copy(fixture("tiny").join(name), dir.join(name)).unwrap();
    }
    std::fs::copy(
        fixture("broken").join("denoiser_fails_above_64.onnx"),
        dir.join("denoiser.onnx"),
    )
    .unwrap();
    let element = element(dir.to_str().unwrap(), &[]);
    let mut h = Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(&rgb_caps(128, 128));
    h.play();
    let size = 128 * 128 * 3;
    let (tx, rx) = std::sync::mpsc::channel();
    let srcpad = h.srcpad().unwrap();
    std::thread::spawn(move || {
        let outcome = (0..20)
            .map(|i| srcpad.push(buffer(size, i)))
            .find(|r| r.is_err());
        let _ = tx.send(outcome);
    });
    let outcome = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("pushing must not hang after a failure");
    assert_eq!(outcome, Some(Err(gst::FlowError::Error)));
    assert!(h.try_pull().is_none());
}

#[test]
fn a_downstream_error_stops_upstream_without_a_hang() {
    // Slow frames, so that upstream fills the pipeline and waits for room before the first
    // frame reaches the refusing downstream.
    let element = element(
        &fixture_str("tiny"),
        &[
            ("frames-in-flight", 1u32.to_value()),
            ("steps", 40i32.to_value()),
        ],
    );
    // A downstream that refuses every buffer.
    let refusing = gst::Pad::builder(gst::PadDirection::Sink)
        .chain_function(|_, _, _| Err(gst::FlowError::NotNegotiated))
        .event_function(|_, _, _| true)
        .build();
    refusing.set_active(true).unwrap();
    element.static_pad("src").unwrap().link(&refusing).unwrap();
    let upstream = gst::Pad::builder(gst::PadDirection::Src).build();
    upstream.set_active(true).unwrap();
    upstream.link(&element.static_pad("sink").unwrap()).unwrap();
    element.set_state(gst::State::Playing).unwrap();
    assert!(upstream.push_event(gst::event::StreamStart::new("refused")));
    let caps: gst::Caps = rgb_caps(256, 160).parse().unwrap();
    assert!(upstream.push_event(gst::event::Caps::new(&caps)));
    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(upstream.push_event(gst::event::Segment::new(&segment)));
    let (tx, rx) = std::sync::mpsc::channel();
    let pusher = upstream.clone();
    std::thread::spawn(move || {
        let outcome = (0..50)
            .map(|i| pusher.push(buffer(256 * 160 * 3, i)))
            .find(|r| r.is_err());
        let _ = tx.send(outcome);
    });
    let outcome = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("upstream must not block once downstream refuses");
    assert_eq!(outcome, Some(Err(gst::FlowError::NotNegotiated)));
    element.set_state(gst::State::Null).unwrap();
}
