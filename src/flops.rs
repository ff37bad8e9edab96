//! Counting a network's floating-point operations by running it once with ONNX Runtime's
//! profiler, which records every node's input and output shapes. Convolutions and matrix
//! products are counted (a multiply-add is two operations); element-wise work is left out.

use std::path::Path;

use crate::error::{Error, Result};
use crate::onnx::{self, SessionOptions};

fn shapes(value: Option<&serde_json::Value>) -> Vec<Vec<u64>> {
    value
        .and_then(|v| v.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|entry| entry.as_object()?.values().next()?.as_array().cloned())
                .map(|dims| dims.iter().filter_map(|d| d.as_u64()).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn elements(shape: &[u64]) -> u64 {
    shape.iter().product()
}

/// Operations of a convolution with `weights` [out channels, in/groups, kh, kw] making `out`.
fn conv_flops(weights: &[u64], out: &[u64]) -> u64 {
    let per_output = elements(weights) / weights.first().copied().unwrap_or(1).max(1);
    2 * elements(out) * per_output
}

/// Operations of one profiled node.
fn node_flops(op: &str, inputs: &[Vec<u64>], outputs: &[Vec<u64>]) -> u64 {
    let (Some(first_in), Some(weights), Some(out)) =
        (inputs.first(), inputs.get(1), outputs.first())
    else {
        return 0;
    };
    match op {
        "Conv" | "FusedConv" => conv_flops(weights, out),
        // int8 convolution (a quantized model): x, x_scale, x_zero_point, w, ...
        "QLinearConv" => inputs.get(3).map_or(0, |weights| conv_flops(weights, out)),
        "ConvTranspose" => {
            let per_input = elements(weights) / weights.first().copied().unwrap_or(1).max(1);
            2 * elements(first_in) * per_input
        }
        "MatMul" | "Gemm" | "FusedMatMul" => {
            2 * elements(out) * first_in.last().copied().unwrap_or(0)
        }
        _ => 0,
    }
}

/// Sums the operations in an ONNX Runtime profile (the JSON array `end_profiling` writes).
pub fn profile_flops(profile: &str) -> Result<u64> {
    let events: Vec<serde_json::Value> =
        serde_json::from_str(profile).map_err(|e| Error::InvalidFrame {
            reason: format!("unreadable ONNX Runtime profile: {e}"),
        })?;
    Ok(events
        .iter()
        .filter(|e| {
            e["cat"] == "Node"
                && e["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("_kernel_time"))
        })
        .map(|e| {
            let args = &e["args"];
            node_flops(
                args["op_name"].as_str().unwrap_or_default(),
                &shapes(args.get("input_type_shape")),
                &shapes(args.get("output_type_shape")),
            )
        })
        .sum())
}

/// Runs the model in `bytes` once on `inputs` (name, NCHW shape, data) with the profiler on and
/// returns its operation count.
pub fn count(bytes: &[u8], inputs: &[(&str, &[i64], &[f32])]) -> Result<u64> {
    let dir = std::env::temp_dir().join(format!("deblur-flops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut session = onnx::plain_session(
        bytes,
        Path::new("<counted model>"),
        SessionOptions::default(),
        Some(&dir.join("flops")),
    )?;
    onnx::run_plain(&mut session, inputs)?;
    let file = session
        .end_profiling()
        .map_err(Error::ort("ending the profile"))?;
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
        path: file.clone().into(),
        source,
    });
    let _ = std::fs::remove_dir_all(&dir);
    profile_flops(&text?)
}

/// Operations per frame pass of both networks at one size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelFlops {
    /// One predictor pass on one frame.
    pub predictor: u64,
    /// One denoiser pass on one sample.
    pub denoiser: u64,
}

impl ModelFlops {
    /// Operations for one frame: one predictor pass and `steps` x `samples` denoiser passes.
    pub fn per_frame(&self, steps: u32, samples: u32) -> u64 {
        self.predictor + self.denoiser * u64::from(steps) * u64::from(samples)
    }
}

/// Counts both networks of `bundle` on a `width` x `height` frame (padded as the model needs).
pub fn model_flops(bundle: &crate::ModelBundle, width: usize, height: usize) -> Result<ModelFlops> {
    let multiple = bundle.pad_multiple();
    let (w, h) = (
        crate::frame::round_up(width, multiple) as i64,
        crate::frame::round_up(height, multiple) as i64,
    );
    let image = vec![0.0f32; (3 * w * h) as usize];
    let shape = [1, 3, h, w];
    let predictor = count(bundle.predictor_bytes(), &[("blurry", &shape, &image)])?;
    let denoiser = count(
        bundle.denoiser_bytes(),
        &[
            ("noisy_residual", &shape, &image),
            ("noise_level", &[1], &[0.5]),
            ("blurry", &shape, &image),
        ],
    )?;
    Ok(ModelFlops {
        predictor,
        denoiser,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolutions_and_products_are_counted() {
        let profile = r#"[
            {"cat": "Session", "name": "model_run"},
            {"cat": "Node", "name": "Conv_0_kernel_time", "args": {"op_name": "Conv",
              "input_type_shape": [{"float": [1, 8, 10, 10]}, {"float": [16, 8, 3, 3]}, {"float": [16]}],
              "output_type_shape": [{"float": [1, 16, 10, 10]}]}},
            {"cat": "Node", "name": "Conv_0_fence_before", "args": {"op_name": "Conv"}},
            {"cat": "Node", "name": "MatMul_1_kernel_time", "args": {"op_name": "MatMul",
              "input_type_shape": [{"float": [4, 5]}, {"float": [5, 6]}],
              "output_type_shape": [{"float": [4, 6]}]}},
            {"cat": "Node", "name": "QConv_3_kernel_time", "args": {"op_name": "QLinearConv",
              "input_type_shape": [{"uint8": [1, 8, 10, 10]}, {"float": []}, {"uint8": []},
                                   {"int8": [16, 8, 3, 3]}, {"float": [16]}, {"int8": [16]},
                                   {"float": []}, {"uint8": []}, {"int32": [16]}],
              "output_type_shape": [{"uint8": [1, 16, 10, 10]}]}},
            {"cat": "Node", "name": "Relu_2_kernel_time", "args": {"op_name": "Relu",
              "input_type_shape": [{"float": [1, 16, 10, 10]}],
              "output_type_shape": [{"float": [1, 16, 10, 10]}]}}
        ]"#;
        let conv = 2 * 16 * 100 * (8 * 9);
        let matmul = 2 * 24 * 5;
        // The int8 convolution counts like its float twin.
        assert_eq!(profile_flops(profile).unwrap(), 2 * conv + matmul);
    }
}
