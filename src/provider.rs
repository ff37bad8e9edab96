//! Execution providers: where ONNX Runtime runs the networks. A provider that was asked for and
//! cannot run is an error, never a silent fall back to the CPU.

use crate::error::{Error, Result};

/// Where a session runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Provider {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on GPU `device` (needs the `cuda` feature and
    /// the onnxruntime-gpu library).
    Cuda {
        /// CUDA device index.
        device: i32,
    },
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Cpu => f.write_str("cpu"),
            Provider::Cuda { device } => write!(f, "cuda:{device}"),
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = Error;

    /// `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid_config(
                "provider",
                s,
                "`cpu`, `cuda` or `cuda:N` (N a device index)",
            )
        };
        match s.split_once(':') {
            None if s == "cpu" => Ok(Provider::Cpu),
            None if s == "cuda" => Ok(Provider::Cuda { device: 0 }),
            Some(("cuda", device)) => device
                .parse()
                .ok()
                .filter(|d| *d >= 0)
                .map(|device| Provider::Cuda { device })
                .ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }
}

/// The fix to print when CUDA was asked for and is not there.
const CUDA_HINT: &str = "the CUDA provider needs deblur built with `--features cuda` and the \
     onnxruntime-gpu 1.31.1 library (CUDA 13) in ORT_DYLIB_PATH, with the CUDA and cuDNN \
     libraries on LD_LIBRARY_PATH (docs/gpu.md); or use the cpu provider";

impl Provider {
    /// Whether this build and the loaded ONNX Runtime library can run this provider.
    pub fn is_available(self) -> Result<bool> {
        match self {
            Provider::Cpu => Ok(true),
            Provider::Cuda { .. } => cuda_available(),
        }
    }

    /// Adds the provider to a session under construction; fails when it cannot run.
    pub(crate) fn register(
        self,
        builder: ort::session::builder::SessionBuilder,
    ) -> Result<ort::session::builder::SessionBuilder> {
        match self {
            Provider::Cpu => Ok(builder),
            Provider::Cuda { device } => register_cuda(builder, device),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_available() -> Result<bool> {
    use ort::ep::ExecutionProvider;
    crate::runtime::runtime()?;
    ort::ep::CUDA::is_available().map_err(Error::ort("asking which providers are available"))
}

#[cfg(not(feature = "cuda"))]
fn cuda_available() -> Result<bool> {
    Ok(false)
}

#[cfg(feature = "cuda")]
fn register_cuda(
    builder: ort::session::builder::SessionBuilder,
    device: i32,
) -> Result<ort::session::builder::SessionBuilder> {
    let unavailable = |reason: String| Error::ProviderUnavailable {
        provider: Provider::Cuda { device }.to_string(),
        reason: format!("{reason}; {CUDA_HINT}"),
    };
    if !cuda_available()? {
        let library = crate::runtime::runtime()?;
        return Err(unavailable(format!(
            "the ONNX Runtime library at {} has no CUDA provider",
            library.path.display()
        )));
    }
    let cuda = ort::ep::CUDA::default()
        .with_device_id(device)
        .build()
        .error_on_failure();
    builder
        .with_execution_providers([cuda])
        .map_err(|e| unavailable(e.to_string()))
}

#[cfg(not(feature = "cuda"))]
fn register_cuda(
    _builder: ort::session::builder::SessionBuilder,
    device: i32,
) -> Result<ort::session::builder::SessionBuilder> {
    Err(Error::ProviderUnavailable {
        provider: Provider::Cuda { device }.to_string(),
        reason: format!("this build of deblur has no CUDA support; {CUDA_HINT}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_and_print() {
        for (text, provider) in [
            ("cpu", Provider::Cpu),
            ("cuda", Provider::Cuda { device: 0 }),
            ("cuda:3", Provider::Cuda { device: 3 }),
        ] {
            assert_eq!(text.parse::<Provider>().unwrap(), provider);
        }
        assert_eq!(Provider::Cuda { device: 1 }.to_string(), "cuda:1");
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0"] {
            let message = bad.parse::<Provider>().unwrap_err().to_string();
            assert!(message.contains(&format!("provider = {bad}")), "{message}");
        }
    }
}
