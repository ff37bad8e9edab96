//! The `deblur` command line, end to end.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, random_frame};

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

fn write_input(dir: &Path, name: &str, width: u32, height: u32) -> String {
    let path = dir.join(name);
    let image: image::RgbImage = random_frame(width, height, 3).into();
    image.save(&path).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn image_command_deblurs_png_and_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = fixture("tiny");
    for (input_name, output_name) in [("in.png", "out.png"), ("in.jpg", "out.jpg")] {
        let input = write_input(dir.path(), input_name, 37, 23);
        let output = dir.path().join(output_name);
        let run = deblur(&[
            "image",
            &input,
            output.to_str().unwrap(),
            "--model",
            tiny.to_str().unwrap(),
            "--steps",
            "3",
            "--samples",
            "2",
            "--schedule-end",
            "0.3",
            "--seed",
            "7",
            "--threads",
            "1",
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let written = image::open(&output).unwrap();
        assert_eq!((written.width(), written.height()), (37, 23));
    }
}

#[test]
fn the_default_model_needs_no_options_and_the_seed_fixes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.png", 64, 40);
    let outputs: Vec<Vec<u8>> = ["a.png", "b.png"]
        .iter()
        .map(|name| {
            let output = dir.path().join(name);
            let run = deblur(&["image", &input, output.to_str().unwrap()]);
            assert!(run.status.success(), "{}", text(&run.stderr));
            assert!(text(&run.stdout).contains("wrote"));
            image::open(&output).unwrap().into_rgb8().into_raw()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn several_samples_default_to_the_models_averaging_schedule() {
    let dir = tempfile::tempdir().unwrap();
    // Tuned for 4 steps to 0.5, and for 2 steps to 0.9 when samples are averaged.
    let model = fixture("tiny-averaging");
    let model = model.to_str().unwrap();
    let input = write_input(dir.path(), "in.png", 40, 24);
    let run = |name: &str, options: &[&str]| {
        let output = dir.path().join(name);
        let mut args = vec!["image", &input, output.to_str().unwrap(), "--model", model];
        args.extend(["--seed", "5", "--threads", "1"]);
        args.extend(options);
        let run = deblur(&args);
        assert!(run.status.success(), "{}", text(&run.stderr));
        image::open(&output).unwrap().into_rgb8().into_raw()
    };
    let averaged = run("a.png", &["--samples", "3"]);
    let explicit = run(
        "b.png",
        &["--samples", "3", "--steps", "2", "--schedule-end", "0.9"],
    );
    let at_default = run(
        "c.png",
        &["--samples", "3", "--steps", "4", "--schedule-end", "0.5"],
    );
    assert_eq!(averaged, explicit);
    assert_ne!(averaged, at_default);
    // One sample keeps the default schedule, and an explicit option still wins.
    assert_eq!(
        run("d.png", &[]),
        run("e.png", &["--steps", "4", "--schedule-end", "0.5"])
    );
    assert_eq!(
        run("f.png", &["--samples", "3", "--steps", "4"]),
        run(
            "g.png",
            &["--samples", "3", "--steps", "4", "--schedule-end", "0.9"]
        )
    );

    let info = deblur(&["info", "--model", model]);
    let stdout = text(&info.stdout);
    assert!(
        stdout.contains("averaging:        2 steps, schedule end 0.9"),
        "{stdout}"
    );
}

#[test]
fn the_ensemble_option_averages_the_predictor_and_refuses_other_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("tiny");
    let model = model.to_str().unwrap();
    let input = write_input(dir.path(), "in.png", 40, 24);
    let run = |name: &str, ensemble: &str| {
        let output = dir.path().join(name);
        let output = output.to_str().unwrap();
        let args = ["image", &input, output, "--model", model, "--steps", "0"];
        deblur(&[&args[..], &["--ensemble", ensemble]].concat())
    };
    let read = |name: &str| {
        image::open(dir.path().join(name))
            .unwrap()
            .into_rgb8()
            .into_raw()
    };
    for (name, ensemble) in [("1.png", "1"), ("8.png", "8")] {
        let done = run(name, ensemble);
        assert!(done.status.success(), "{}", text(&done.stderr));
    }
    assert_ne!(read("1.png"), read("8.png"));

    let refused = run("3.png", "3");
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("ensemble = 3: expected 1, 2, 4 or 8 orientations"),
        "{stderr}"
    );
    assert!(!dir.path().join("3.png").exists());

    // The benchmark's bare loop and FLOP counts have one predictor run a frame: it says so.
    let bench = deblur(&["bench", "--model", model, "--ensemble", "8"]);
    let stderr = text(&bench.stderr);
    assert_eq!(bench.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ensemble = 8: expected 1"), "{stderr}");
}

#[test]
fn info_reports_model_provider_and_library() {
    let run = deblur(&["info", "--model", fixture("tiny").to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    for needle in [
        "fixture-tiny",
        "using cpu",
        "onnx runtime:     1.",
        "model check:",
    ] {
        assert!(stdout.contains(needle), "{stdout} lacks {needle}");
    }
}

#[test]
fn a_missing_or_bad_runtime_library_is_an_error_with_the_fix_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.png", 8, 8);
    let not_a_library = dir.path().join("libonnxruntime.so");
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    for library in [
        "/nonexistent/libonnxruntime.so",
        not_a_library.to_str().unwrap(),
    ] {
        for args in [vec!["image", input.as_str(), "/dev/null"], vec!["info"]] {
            let run = Command::new(env!("CARGO_BIN_EXE_deblur"))
                .args(&args)
                .env("ORT_DYLIB_PATH", library)
                .output()
                .unwrap();
            let stderr = text(&run.stderr);
            assert_eq!(run.status.code(), Some(1), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                stderr.contains("ONNX Runtime library not found"),
                "{stderr}"
            );
            assert!(stderr.contains(library), "{stderr}");
            assert!(stderr.contains("scripts/setup.sh"), "{stderr}");
        }
    }
}

#[test]
fn bad_inputs_and_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.png", 8, 8);
    let out = dir.path().join("out.png");
    let out = out.to_str().unwrap();
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["image", "/nonexistent.png", out], "/nonexistent.png"),
        (
            vec!["image", &input, out, "--samples", "0"],
            "samples = 0: expected 1 to 64",
        ),
        (
            vec!["image", &input, out, "--schedule-end", "1.5"],
            "schedule-end = 1.5",
        ),
        (
            vec!["image", &input, out, "--model", "/nonexistent"],
            "/nonexistent/deblur-model.json",
        ),
    ];
    for (args, needle) in cases {
        let run = deblur(&args);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr} lacks {needle}");
    }
}
