//! The predictor and denoiser as ONNX Runtime sessions, checked against the bundle format.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};
use crate::network::{Denoise, Predict};
use crate::runtime;
use crate::tensor::Tensor;

/// Where a session runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Provider {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Cpu => f.write_str("cpu"),
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Provider::Cpu),
            other => Err(Error::invalid_config("provider", other, "`cpu`")),
        }
    }
}

/// How one stage's session is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Intra-op threads of this session's own pool.
    pub threads: usize,
    /// Execution provider.
    pub provider: Provider,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: 1,
            provider: Provider::Cpu,
        }
    }
}

/// One input or output the bundle format requires: name, rank and, for images, 3 channels.
struct Port {
    name: &'static str,
    rank: usize,
    channels: Option<i64>,
}

const IMAGE: fn(&'static str) -> Port = |name| Port {
    name,
    rank: 4,
    channels: Some(3),
};

fn create_session(bytes: &[u8], path: &Path, options: SessionOptions) -> Result<Session> {
    let environment = runtime::environment()?;
    let setup = |e: ort::Error| Error::Ort {
        context: format!("setting up a session for {}", path.display()),
        source: e,
    };
    Session::builder(environment)
        .map_err(setup)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| setup(e.into()))?
        .with_intra_threads(options.threads.max(1))
        .map_err(|e| setup(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| setup(e.into()))?
        // Spinning pools of two stages fight over few cores; sleep instead.
        .with_intra_op_spinning(false)
        .map_err(|e| setup(e.into()))?
        .with_inter_op_spinning(false)
        .map_err(|e| setup(e.into()))?
        .commit_from_memory(bytes)
        .map_err(|source| Error::ModelLoad {
            path: path.to_path_buf(),
            source,
        })
}

fn describe(dtype: &ValueType) -> String {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => format!("{ty:?} tensor of shape {shape:?}"),
        other => format!("{other:?}"),
    }
}

/// Checks that `found` ports match `expected` exactly (names as a set, then each port's type).
fn check_ports(
    path: &Path,
    kind: &str,
    expected: &[Port],
    found: &[ort::value::Outlet],
) -> Result<()> {
    let mismatch = |what: String, expected: String, found: String| Error::ModelMismatch {
        path: path.to_path_buf(),
        what,
        expected,
        found,
    };
    let mut expected_names: Vec<&str> = expected.iter().map(|p| p.name).collect();
    let mut found_names: Vec<&str> = found.iter().map(|o| o.name()).collect();
    expected_names.sort_unstable();
    found_names.sort_unstable();
    if expected_names != found_names {
        return Err(mismatch(
            format!("{kind} names"),
            format!("{expected_names:?}"),
            format!("{found_names:?}"),
        ));
    }
    for port in expected {
        let outlet = found
            .iter()
            .find(|o| o.name() == port.name)
            .expect("names compared equal above");
        let what = format!("{kind} `{}`", port.name);
        let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
            return Err(mismatch(
                what,
                "a float32 tensor".into(),
                describe(outlet.dtype()),
            ));
        };
        if *ty != TensorElementType::Float32 {
            return Err(mismatch(
                what,
                "element type Float32".into(),
                format!("{ty:?}"),
            ));
        }
        if shape.len() != port.rank {
            return Err(mismatch(
                what,
                format!("rank {}", port.rank),
                format!("rank {} (shape {shape:?})", shape.len()),
            ));
        }
        if let Some(channels) = port.channels
            && shape[1] != channels
        {
            return Err(mismatch(
                what,
                format!("{channels} channels (NCHW dimension 1)"),
                format!("{} (shape {shape:?})", shape[1]),
            ));
        }
    }
    Ok(())
}

fn to_tensor(value: &ort::value::DynValue, path: &Path, expected: [usize; 4]) -> Result<Tensor> {
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(Error::ort(format!(
            "reading the output of {}",
            path.display()
        )))?;
    let found: Vec<i64> = shape.iter().copied().collect();
    let expected_i64: Vec<i64> = expected.iter().map(|&d| d as i64).collect();
    if found != expected_i64 {
        return Err(Error::ModelMismatch {
            path: path.to_path_buf(),
            what: "output shape".into(),
            expected: format!("{expected_i64:?} (the input's shape)"),
            found: format!("{found:?}"),
        });
    }
    let [n, c, h, w] = expected;
    Ok(Tensor::from_vec(n, c, h, w, data.to_vec()))
}

fn view(tensor: &Tensor) -> Result<TensorRef<'_, f32>> {
    let shape = tensor.shape().map(|d| d as i64);
    TensorRef::from_array_view((shape, tensor.data()))
        .map_err(Error::ort("wrapping an input tensor"))
}

/// The predictor g on ONNX Runtime.
pub struct OnnxPredictor {
    session: Session,
    path: PathBuf,
}

impl OnnxPredictor {
    /// Creates the session from `bytes` (named `path` in messages) and checks its interface.
    pub fn new(bytes: &[u8], path: &Path, options: SessionOptions) -> Result<Self> {
        let session = create_session(bytes, path, options)?;
        check_ports(path, "input", &[IMAGE("blurry")], session.inputs())?;
        check_ports(path, "output", &[IMAGE("estimate")], session.outputs())?;
        Ok(OnnxPredictor {
            session,
            path: path.to_path_buf(),
        })
    }
}

impl Predict for OnnxPredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        let outputs = self
            .session
            .run(ort::inputs!["blurry" => view(blurry)?])
            .map_err(Error::ort(format!("running {}", self.path.display())))?;
        to_tensor(&outputs["estimate"], &self.path, blurry.shape())
    }
}

/// The denoiser f on ONNX Runtime.
pub struct OnnxDenoiser {
    session: Session,
    path: PathBuf,
}

impl OnnxDenoiser {
    /// Creates the session from `bytes` (named `path` in messages) and checks its interface.
    pub fn new(bytes: &[u8], path: &Path, options: SessionOptions) -> Result<Self> {
        let session = create_session(bytes, path, options)?;
        let level = Port {
            name: "noise_level",
            rank: 1,
            channels: None,
        };
        check_ports(
            path,
            "input",
            &[IMAGE("noisy_residual"), level, IMAGE("blurry")],
            session.inputs(),
        )?;
        check_ports(path, "output", &[IMAGE("epsilon")], session.outputs())?;
        Ok(OnnxDenoiser {
            session,
            path: path.to_path_buf(),
        })
    }
}

impl Denoise for OnnxDenoiser {
    fn denoise(
        &mut self,
        noisy_residual: &Tensor,
        noise_level: &[f32],
        blurry: &Tensor,
    ) -> Result<Tensor> {
        let levels = TensorRef::from_array_view(([noise_level.len() as i64], noise_level))
            .map_err(Error::ort("wrapping the noise levels"))?;
        let outputs = self
            .session
            .run(ort::inputs![
                "noisy_residual" => view(noisy_residual)?,
                "noise_level" => levels,
                "blurry" => view(blurry)?,
            ])
            .map_err(Error::ort(format!("running {}", self.path.display())))?;
        to_tensor(&outputs["epsilon"], &self.path, noisy_residual.shape())
    }
}
