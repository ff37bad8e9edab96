//! The one error type of the library, grouped by who can fix the problem: the installation
//! (runtime library), the model files, the caller's settings and inputs, or the run itself.

use std::path::PathBuf;

/// What a fresh user should run to get the ONNX Runtime library.
pub const RUNTIME_INSTALL_HINT: &str = "run `scripts/setup.sh` from the deblur checkout (it installs \
     libonnxruntime.so.1.31.1 into .ort/lib), or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.17 or newer";

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in deblur.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable ONNX Runtime shared library was found.
    #[error("ONNX Runtime library not found; tried: {tried}. To fix: {hint}", hint = RUNTIME_INSTALL_HINT)]
    RuntimeNotFound {
        /// Each candidate path with the reason it was rejected.
        tried: String,
    },

    /// ONNX Runtime failed while doing `context`.
    #[error("ONNX Runtime failed while {context}: {source}")]
    Ort {
        /// What deblur was doing.
        context: String,
        /// The runtime's own error.
        #[source]
        source: ort::Error,
    },

    /// A model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    ModelFile {
        /// The file that was looked for.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },

    /// Reading or writing a file other than a model failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The model manifest is not valid JSON of the expected shape.
    #[error("invalid model manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An ONNX file could not be loaded as a model (corrupt or not ONNX).
    #[error("cannot load ONNX model {path}: {source}")]
    ModelLoad {
        /// The ONNX file.
        path: PathBuf,
        /// The runtime's error.
        #[source]
        source: ort::Error,
    },

    /// A model's interface differs from what the bundle format requires.
    #[error(
        "model {path} does not match the deblur bundle format: {what}: expected {expected}, found {found}"
    )]
    ModelMismatch {
        /// The offending file.
        path: PathBuf,
        /// Which part of the interface.
        what: String,
        /// What the format requires.
        expected: String,
        /// What the file has.
        found: String,
    },

    /// An execution provider was asked for and cannot run (no silent fall back to the CPU).
    #[error("execution provider {provider} is not available: {reason}")]
    ProviderUnavailable {
        /// The provider asked for.
        provider: String,
        /// Why, and the fix.
        reason: String,
    },

    /// A setting is outside its allowed range.
    #[error("invalid setting {name} = {value}: expected {expected}")]
    InvalidConfig {
        /// The setting's name, as the user spells it.
        name: &'static str,
        /// The value given.
        value: String,
        /// The allowed values.
        expected: String,
    },

    /// An input image or frame does not fit.
    #[error("invalid frame: {reason}")]
    InvalidFrame {
        /// What is wrong.
        reason: String,
    },

    /// Decoding or encoding an image file failed.
    #[error("image file {path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The codec's error.
        #[source]
        source: image::ImageError,
    },

    /// A pipeline stage failed; the stream ends with this error.
    #[error("{stage} stage failed on frame {frame_index}: {source}")]
    Stage {
        /// Which stage: "predictor" or "refiner".
        stage: &'static str,
        /// The frame that was being processed.
        frame_index: u64,
        /// The underlying failure.
        #[source]
        source: Box<Error>,
    },

    /// A stage thread stopped without reporting an error (it panicked).
    #[error("{stage} stage stopped unexpectedly")]
    StageLost {
        /// Which stage.
        stage: &'static str,
    },

    /// A stage thread could not be started.
    #[error("cannot start the {stage} thread: {source}")]
    Spawn {
        /// Which stage.
        stage: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The pipeline no longer accepts frames because it has already ended.
    #[error("the pipeline has stopped and accepts no more frames")]
    PipelineClosed,

    /// A video pipeline could not be built or failed while running.
    #[error("video: {reason}")]
    Video {
        /// What went wrong, with the fix where there is one.
        reason: String,
    },

    /// Work was cancelled (flush or shutdown).
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn ort(context: impl Into<String>) -> impl FnOnce(ort::Error) -> Error {
        let context = context.into();
        move |source| Error::Ort { context, source }
    }

    pub(crate) fn invalid_config(
        name: &'static str,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Error {
        Error::InvalidConfig {
            name,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
