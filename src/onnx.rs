//! The predictor and denoiser as ONNX Runtime sessions, checked against the bundle format.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};
use crate::network::{Denoise, Interrupt, Predict};
use crate::provider::Provider;
use crate::runtime;
use crate::tensor::Tensor;

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
    plain_session(bytes, path, options, None)
}

/// A session on any ONNX model, checked against nothing: for benchmarks and for counting
/// operations, which pass `profile` (a file prefix) and get basic graph rewrites only, so that
/// the profile shows the model's own operators and shapes.
pub fn plain_session(
    bytes: &[u8],
    path: &Path,
    options: SessionOptions,
    profile: Option<&Path>,
) -> Result<Session> {
    let environment = runtime::environment()?;
    let setup = |e: ort::Error| Error::Ort {
        context: format!("setting up a session for {}", path.display()),
        source: e,
    };
    let level = if profile.is_some() {
        GraphOptimizationLevel::Level1
    } else {
        GraphOptimizationLevel::All
    };
    let mut builder = Session::builder(environment)
        .map_err(setup)?
        .with_optimization_level(level)
        .map_err(|e| setup(e.into()))?
        .with_intra_threads(options.threads.max(1))
        .map_err(|e| setup(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| setup(e.into()))?
        // Spinning pools of two stages fight over few cores; sleep instead.
        .with_intra_op_spinning(false)
        .map_err(|e| setup(e.into()))?
        .with_inter_op_spinning(false)
        .map_err(|e| setup(e.into()))?;
    if let Some(prefix) = profile {
        builder = builder
            .with_profiling(prefix)
            .map_err(|e| setup(e.into()))?;
    }
    options
        .provider
        .register(builder)?
        .commit_from_memory(bytes)
        .map_err(|source| Error::ModelLoad {
            path: path.to_path_buf(),
            source,
        })
}

/// Runs a plain session on float inputs given as (name, shape, data), discarding the outputs.
pub fn run_plain(session: &mut Session, inputs: &[(&str, &[i64], &[f32])]) -> Result<()> {
    let values = inputs
        .iter()
        .map(|&(name, shape, data)| {
            TensorRef::from_array_view((shape.to_vec(), data))
                .map(|tensor| {
                    (
                        std::borrow::Cow::from(name),
                        ort::session::SessionInputValue::from(tensor),
                    )
                })
                .map_err(Error::ort(format!("wrapping input `{name}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    session
        .run(values)
        .map_err(Error::ort("running a plain session"))?;
    Ok(())
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

/// Lets another thread stop a session's run through ONNX Runtime's terminate flag.
struct OrtInterrupt {
    options: RunOptions,
    interrupted: AtomicBool,
}

impl Interrupt for OrtInterrupt {
    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        if let Err(e) = self.options.terminate() {
            tracing::warn!("cannot interrupt an ONNX Runtime run: {e}");
        }
    }

    fn resume(&self) {
        if let Err(e) = self.options.unterminate() {
            tracing::warn!("cannot re-arm ONNX Runtime runs: {e}");
        }
        self.interrupted.store(false, Ordering::SeqCst);
    }
}

/// A checked session and what it needs to run and to be interrupted.
struct OnnxNetwork {
    session: Session,
    path: PathBuf,
    interrupt: Arc<OrtInterrupt>,
}

impl OnnxNetwork {
    fn new(
        bytes: &[u8],
        path: &Path,
        options: SessionOptions,
        inputs: &[Port],
        output: Port,
    ) -> Result<Self> {
        let session = create_session(bytes, path, options)?;
        check_ports(path, "input", inputs, session.inputs())?;
        check_ports(path, "output", &[output], session.outputs())?;
        let options = RunOptions::new().map_err(Error::ort("creating run options"))?;
        Ok(OnnxNetwork {
            session,
            path: path.to_path_buf(),
            interrupt: Arc::new(OrtInterrupt {
                options,
                interrupted: AtomicBool::new(false),
            }),
        })
    }

    /// Runs the session and returns its one output, which must have `shape`.
    fn run(
        &mut self,
        inputs: ort::session::SessionInputs<'_, '_>,
        output: &str,
        shape: [usize; 4],
    ) -> Result<Tensor> {
        let outputs = match self
            .session
            .run_with_options(inputs, &self.interrupt.options)
        {
            Ok(outputs) => outputs,
            Err(_) if self.interrupt.interrupted.load(Ordering::SeqCst) => {
                return Err(Error::Cancelled);
            }
            Err(e) => return Err(Error::ort(format!("running {}", self.path.display()))(e)),
        };
        to_tensor(&outputs[output], &self.path, shape)
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        Some(self.interrupt.clone())
    }
}

/// The predictor g on ONNX Runtime.
pub struct OnnxPredictor(OnnxNetwork);

impl OnnxPredictor {
    /// Creates the session from `bytes` (named `path` in messages) and checks its interface.
    pub fn new(bytes: &[u8], path: &Path, options: SessionOptions) -> Result<Self> {
        OnnxNetwork::new(bytes, path, options, &[IMAGE("blurry")], IMAGE("estimate"))
            .map(OnnxPredictor)
    }
}

impl Predict for OnnxPredictor {
    fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
        self.0.run(
            ort::inputs!["blurry" => view(blurry)?].into(),
            "estimate",
            blurry.shape(),
        )
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        self.0.interrupter()
    }
}

/// The denoiser f on ONNX Runtime.
pub struct OnnxDenoiser(OnnxNetwork);

impl OnnxDenoiser {
    /// Creates the session from `bytes` (named `path` in messages) and checks its interface.
    pub fn new(bytes: &[u8], path: &Path, options: SessionOptions) -> Result<Self> {
        let level = Port {
            name: "noise_level",
            rank: 1,
            channels: None,
        };
        let inputs = [IMAGE("noisy_residual"), level, IMAGE("blurry")];
        OnnxNetwork::new(bytes, path, options, &inputs, IMAGE("epsilon")).map(OnnxDenoiser)
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
        let inputs = ort::inputs![
            "noisy_residual" => view(noisy_residual)?,
            "noise_level" => levels,
            "blurry" => view(blurry)?,
        ];
        self.0.run(inputs.into(), "epsilon", noisy_residual.shape())
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupt>> {
        self.0.interrupter()
    }
}
