//! # deblur
//!
//! Video deblurring by stochastic refinement (Whang et al., "Deblurring via Stochastic
//! Refinement", CVPR 2022) on ONNX Runtime.
//!
//! A deterministic U-Net *predictor* g(y) gives a first estimate of the sharp frame; a small
//! *denoiser* samples the residual x − g(y) by diffusion in a few steps (Algorithm 1), and the
//! output is g(y) + z₀. Averaging several samples trades perceptual detail for PSNR.
//!
//! - [`bundle::ModelBundle`] loads and checks a model (a manifest and two ONNX files), or the
//!   embedded default.
//! - [`engine`] deblurs one frame in two stages; [`pipeline`] runs the stages on their own
//!   threads for video.
//! - [`ensemble`] averages the predictor over flips and quarter turns of the frame.
//! - [`schedule`], [`sampler`] and [`noise`] hold the diffusion maths; [`frame`] and [`tiling`]
//!   the conversion of frames of any size to tensors and back.
//! - [`runtime`] finds the ONNX Runtime library without panicking.

#![warn(missing_docs)]

pub mod bundle;
pub mod engine;
pub mod ensemble;
pub mod error;
pub mod eval;
pub mod flops;
pub mod frame;
pub mod memory;
pub mod metrics;
pub mod network;
pub mod noise;
pub mod onnx;
pub mod pipeline;
pub mod plot;
pub mod provider;
pub mod render;
pub mod runtime;
pub mod sampler;
pub mod schedule;
pub mod tensor;
pub mod tiling;
#[cfg(feature = "video")]
pub mod video;

pub use bundle::{ModelBundle, TunedSampling};
pub use engine::{Deblurred, Deblurrer, Extras, FrameSettings, ModelSpec};
pub use ensemble::SelfEnsemble;
pub use error::{Error, Result};
pub use frame::RgbFrame;
pub use noise::NoiseMode;
pub use onnx::SessionOptions;
pub use pipeline::{FrameJob, FrameReceiver, FrameResult, FrameSender, PipelineConfig};
pub use provider::Provider;
pub use render::OutputMode;
pub use sampler::SamplingParams;
pub use tiling::Tiling;
