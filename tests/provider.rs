//! Asking for a provider that cannot run is an error, never a silent fall back to the CPU.

mod common;

use common::{fixture, require_runtime};
use deblur::{Error, ModelBundle, Provider, SessionOptions};

#[test]
fn cuda_without_a_gpu_library_is_an_error_that_says_what_to_do() {
    require_runtime();
    // The CPU-only ONNX Runtime of scripts/setup.sh has no CUDA provider on any machine.
    assert!(!Provider::Cuda { device: 0 }.is_available().unwrap());
    assert!(Provider::Cpu.is_available().unwrap());
    let bundle = ModelBundle::load(fixture("tiny")).unwrap();
    let options = SessionOptions {
        threads: 1,
        provider: Provider::Cuda { device: 1 },
    };
    let error = match bundle.predictor(options) {
        Err(e) => e,
        Ok(_) => panic!("a CUDA session must not silently run on the CPU"),
    };
    assert!(
        matches!(error, Error::ProviderUnavailable { .. }),
        "{error}"
    );
    let message = error.to_string();
    for needle in ["cuda:1", "not available", "onnxruntime-gpu", "cpu provider"] {
        assert!(message.contains(needle), "{message} lacks {needle}");
    }
    if cfg!(feature = "cuda") {
        assert!(message.contains("has no CUDA provider"), "{message}");
    } else {
        assert!(message.contains("no CUDA support"), "{message}");
    }
}

#[test]
fn the_cli_refuses_an_unavailable_provider() {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(["info", "--provider", "cuda"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("execution provider cuda:0 is not available"),
        "{stderr}"
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(["info", "--provider", "tpu"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("`cpu`, `cuda` or `cuda:N`"));
}
