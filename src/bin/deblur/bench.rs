//! `deblur bench`: speed and memory, measured in one run on this machine.
//!
//! For each size and sample count it times, on the same frames:
//! - the bare loop: one predictor pass and `steps` denoiser passes per frame, sequential, in
//!   ONNX Runtime sessions, at the best thread count: exactly the model work, nothing else;
//! - the library's two-stage pipeline (conversion, padding, tiling, noise, blending included);
//! - the GStreamer element between appsrc and appsink (with the `video` feature).
//!
//! Then a 4K frame through tiling (peak memory) and a soak of many small frames through the
//! element (memory at the start and at the end). Operation counts come from ONNX Runtime's
//! profiler; the CPU's attainable peak from a large matrix product in ONNX Runtime.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use deblur::engine::{Extras, FrameSettings, ModelSpec};
use deblur::flops::{self, ModelFlops};
use deblur::memory;
use deblur::network::{Denoise, Predict};
use deblur::noise::{NoiseField, NoiseMode};
use deblur::pipeline::{self, FrameJob, PipelineConfig, available_cores};
use deblur::tensor::Tensor;
use deblur::{ModelBundle, Result, RgbFrame, SamplingParams, SelfEnsemble, SessionOptions};

use crate::{ModelArgs, SamplingArgs};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Frame sizes, WIDTHxHEIGHT, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "640x360,1280x720")]
    sizes: Vec<String>,
    /// Sample counts to measure, comma separated (overrides --samples).
    #[arg(long = "sample-counts", value_delimiter = ',', default_value = "1,4")]
    sample_counts: Vec<u32>,
    /// Frames timed per measurement (after two frames of warm-up).
    #[arg(long, default_value_t = 10)]
    frames: usize,
    /// Frames in flight in the library pipeline and the element.
    #[arg(long, default_value_t = 2)]
    frames_in_flight: usize,
    /// Frames in the soak through the element (0: no soak).
    #[arg(long, default_value_t = 10_000)]
    soak: usize,
    /// Extra thread splits of the library pipeline to measure, PREDICTOR+REFINER threads,
    /// comma separated (for example 1+2,2+2); the default split is always measured.
    #[arg(long = "stage-threads", value_delimiter = ',')]
    stage_threads: Vec<String>,
    /// Skip the 4K frame.
    #[arg(long)]
    no_4k: bool,
    /// Also write the report to this Markdown file.
    #[arg(long)]
    out: Option<PathBuf>,
}

const WARM_UP: usize = 2;

/// A test frame with edges and texture, so that no kernel takes a shortcut on flat input.
fn test_frame(width: u32, height: u32) -> RgbFrame {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data = (0..width as usize * height as usize)
        .flat_map(|i| {
            let (x, y) = ((i % width as usize) as u32, (i / width as usize) as u32);
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 59) as u32;
            let checker = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 200 };
            [
                (checker + noise) as u8,
                ((x * 255 / width.max(1)) as u8).wrapping_add(noise as u8),
                ((y * 255 / height.max(1)) as u8),
            ]
        })
        .collect();
    RgbFrame::new(width, height, data).expect("valid size")
}

/// Two positive numbers joined by `separator`, as in 640x360 or 1+2; `name` and `expected`
/// describe the option for the error.
fn parse_pair<T>(text: &str, separator: char, name: &'static str, expected: &str) -> Result<(T, T)>
where
    T: std::str::FromStr + Default + PartialEq,
{
    let bad = || deblur::Error::InvalidConfig {
        name,
        value: text.to_string(),
        expected: expected.into(),
    };
    let (a, b) = text.split_once(separator).ok_or_else(bad)?;
    let (a, b): (T, T) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a == T::default() || b == T::default() {
        return Err(bad());
    }
    Ok((a, b))
}

fn parse_split(text: &str) -> Result<(usize, usize)> {
    parse_pair(
        text,
        '+',
        "stage-threads",
        "PREDICTOR+REFINER thread counts of at least 1, for example 1+2",
    )
}

fn parse_size(text: &str) -> Result<(u32, u32)> {
    parse_pair(text, 'x', "sizes", "WIDTHxHEIGHT, for example 640x360")
}

/// The attainable GFLOP/s of this CPU: the best of a few 1024³ matrix products in ONNX Runtime.
fn cpu_peak(threads: usize) -> Result<f64> {
    const N: i64 = 1024;
    const GEMM: &[u8] = include_bytes!("../../../tests/fixtures/bench/gemm.onnx");
    let options = SessionOptions {
        threads,
        ..SessionOptions::default()
    };
    let mut session =
        deblur::onnx::plain_session(GEMM, std::path::Path::new("gemm.onnx"), options, None)?;
    let a = vec![0.5f32; (N * N) as usize];
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        deblur::onnx::run_plain(&mut session, &[("a", &[N, N], &a), ("b", &[N, N], &a)])?;
        best = best.min(started.elapsed());
    }
    Ok(2.0 * (N * N * N) as f64 / best.as_secs_f64() / 1e9)
}

/// One measurement's numbers.
struct Measured {
    fps: f64,
    predict_ms: f64,
    refine_ms: f64,
    threads: String,
}

/// The bare loop at `threads` per session: predictor once, denoiser `steps` times, per frame.
fn bare_loop(
    bundle: &ModelBundle,
    frame: &RgbFrame,
    sampling: SamplingParams,
    frames: usize,
    options: SessionOptions,
) -> Result<Measured> {
    let threads = options.threads;
    let mut predictor = bundle.predictor(options)?;
    let mut denoiser = bundle.denoiser(options)?;
    let spec = ModelSpec::from(bundle);
    let blurry =
        deblur::frame::region_to_tensor(frame, frame.region(), spec.value_range, spec.pad_multiple);
    let samples = sampling.samples as usize;
    let batch = blurry.repeat_batch(samples);
    let [_, c, h, w] = blurry.shape();
    let mut noisy = Tensor::zeros(samples, c, h, w);
    NoiseField::for_frame(0, NoiseMode::Locked, 0).fill(
        0,
        0,
        0,
        0,
        c,
        h,
        w * samples,
        noisy.data_mut(),
    );
    let levels = vec![0.7f32; samples];
    let (mut predict_time, mut refine_time) = (Duration::ZERO, Duration::ZERO);
    for i in 0..WARM_UP + frames {
        let started = Instant::now();
        std::hint::black_box(predictor.predict(&blurry)?);
        let predicted = Instant::now();
        for _ in 0..sampling.steps {
            std::hint::black_box(denoiser.denoise(&noisy, &levels, &batch)?);
        }
        if i >= WARM_UP {
            predict_time += predicted - started;
            refine_time += predicted.elapsed();
        }
    }
    let per_frame = (predict_time + refine_time).as_secs_f64() / frames as f64;
    Ok(Measured {
        fps: 1.0 / per_frame,
        predict_ms: predict_time.as_secs_f64() * 1e3 / frames as f64,
        refine_ms: refine_time.as_secs_f64() * 1e3 / frames as f64,
        threads: format!("{threads} in one stage"),
    })
}

fn settings(sampling: SamplingParams) -> FrameSettings {
    FrameSettings {
        sampling,
        seed: 0,
        noise_mode: NoiseMode::Locked,
        extras: Extras::default(),
        ensemble: SelfEnsemble::OFF,
    }
}

/// The library pipeline's throughput over `frames` frames after the warm-up.
fn library_pipeline(
    bundle: &ModelBundle,
    frame: &RgbFrame,
    sampling: SamplingParams,
    frames: usize,
    provider: deblur::Provider,
    frames_in_flight: usize,
    (predictor_threads, refiner_threads): (usize, usize),
) -> Result<Measured> {
    let mut config = PipelineConfig {
        frames_in_flight,
        ..PipelineConfig::default()
    };
    config.predictor.threads = predictor_threads;
    config.refiner.threads = refiner_threads;
    config.predictor.provider = provider;
    config.refiner.provider = provider;
    let (sender, receiver) = pipeline::start(bundle, config)?;
    let total = WARM_UP + frames;
    let frame = frame.clone();
    let job = move |i: usize| FrameJob {
        frame_index: i as u64,
        frame: frame.clone(),
        settings: settings(sampling),
    };
    let feeder = std::thread::spawn(move || {
        for i in 0..total {
            if sender.send(job(i)).is_err() {
                break;
            }
        }
    });
    let (mut timed_from, mut predict, mut refine) = (None, 0.0, 0.0);
    for (i, result) in receiver.enumerate() {
        let result = result?;
        if i + 1 == WARM_UP {
            timed_from = Some(Instant::now());
        } else if i >= WARM_UP {
            predict += result.deblurred.timings.predict.as_secs_f64();
            refine += result.deblurred.timings.refine.as_secs_f64();
        }
    }
    let elapsed = timed_from.map_or(Duration::ZERO, |t| t.elapsed());
    let _ = feeder.join();
    Ok(Measured {
        fps: frames as f64 / elapsed.as_secs_f64(),
        predict_ms: predict * 1e3 / frames as f64,
        refine_ms: refine * 1e3 / frames as f64,
        threads: format!(
            "{} + {} (two stages)",
            config.predictor.threads, config.refiner.threads
        ),
    })
}

#[cfg(feature = "video")]
fn element(
    model: Option<&std::path::Path>,
    provider: deblur::Provider,
    frames_in_flight: usize,
    frame: &RgbFrame,
    sampling: SamplingParams,
    frames: usize,
    mut after_warm_up: impl FnMut(usize),
) -> Result<Measured> {
    use gst::prelude::*;

    let video_error = |reason: String| deblur::Error::Video { reason };
    deblur::video::ensure_element()?;
    let (w, h) = (frame.width(), frame.height());
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time block=true max-buffers=4 \
         caps=video/x-raw,format=RGB,width={w},height={h},framerate=25/1 \
         ! deblur name=deblur steps={} schedule-end={} samples={} qos=false \
         ! appsink name=sink sync=false max-buffers=4",
        sampling.steps, sampling.schedule_end, sampling.samples
    ))
    .map_err(|e| video_error(e.to_string()))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| video_error("not a pipeline".into()))?;
    let deblur = pipeline
        .by_name("deblur")
        .expect("named in the launch line");
    if let Some(model) = model {
        deblur.set_property("model", model.to_string_lossy().as_ref());
    }
    deblur.set_property("frames-in-flight", frames_in_flight as u32);
    if let deblur::Provider::Cuda { device } = provider {
        deblur.set_property_from_str("provider", "cuda");
        deblur.set_property("device-id", device);
    }
    let src = pipeline
        .by_name("src")
        .expect("named")
        .downcast::<gst_app::AppSrc>()
        .expect("an appsrc");
    let sink = pipeline
        .by_name("sink")
        .expect("named")
        .downcast::<gst_app::AppSink>()
        .expect("an appsink");
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| video_error("the element pipeline failed to start".into()))?;
    // Rows padded to 4 bytes, as GStreamer lays RGB out.
    let stride = (w as usize * 3).div_ceil(4) * 4;
    let mut bytes = vec![0u8; stride * h as usize];
    for (dst, src_row) in bytes
        .chunks_mut(stride)
        .zip(frame.data().chunks_exact(w as usize * 3))
    {
        dst[..src_row.len()].copy_from_slice(src_row);
    }
    let total = WARM_UP + frames;
    let feeder = std::thread::spawn(move || {
        for i in 0..total as u64 {
            let mut buffer = gst::Buffer::from_slice(bytes.clone());
            {
                let b = buffer.get_mut().expect("fresh buffer");
                b.set_pts(gst::ClockTime::from_mseconds(40 * i));
                b.set_duration(gst::ClockTime::from_mseconds(40));
            }
            if src.push_buffer(buffer).is_err() {
                return;
            }
        }
        let _ = src.end_of_stream();
    });
    let mut timed_from = None;
    let mut pulled = 0;
    while let Some(_sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(300)) {
        pulled += 1;
        if pulled == WARM_UP {
            timed_from = Some(Instant::now());
            after_warm_up(pulled);
        }
    }
    let elapsed = timed_from.map_or(Duration::ZERO, |t| t.elapsed());
    let _ = feeder.join();
    let measured = Measured {
        fps: (pulled.saturating_sub(WARM_UP)) as f64 / elapsed.as_secs_f64(),
        predict_ms: deblur.property::<f64>("predict-ms"),
        refine_ms: deblur.property::<f64>("refine-ms"),
        threads: "element defaults".into(),
    };
    let _ = pipeline.set_state(gst::State::Null);
    if pulled != total {
        return Err(video_error(format!(
            "the element returned {pulled} of {total} frames"
        )));
    }
    Ok(measured)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.sampling.ensemble != SelfEnsemble::OFF {
        // The bare loop and the FLOP counts model one predictor run a frame.
        return Err(deblur::Error::InvalidConfig {
            name: "ensemble",
            value: args.sampling.ensemble.to_string(),
            expected: "1: deblur bench measures one predictor run a frame; an ensemble of N costs \
                       N of them (docs/model-card.md, Self-ensemble)"
                .into(),
        });
    }
    let splits = args
        .stage_threads
        .iter()
        .map(|s| parse_split(s))
        .collect::<Result<Vec<_>>>()?;
    let bundle = ModelBundle::load_or_default(args.model.model.as_deref())?;
    let runtime = deblur::runtime::runtime()?;
    let cores = available_cores();
    let mut report = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let peak_one = cpu_peak(1)?;
    let peak_all = cpu_peak(cores)?;
    let _ = writeln!(report, "# deblur bench\n");
    let _ = writeln!(
        report,
        "Machine: {cpu}, {cores} cores; ONNX Runtime {}; provider {}; model {} ({}).\n",
        runtime.version,
        args.model.provider,
        bundle.manifest().name,
        bundle.origin()
    );
    let _ = writeln!(
        report,
        "Attainable peak (1024³ matrix product in ONNX Runtime): {peak_one:.1} GFLOP/s on 1 thread, \
         {peak_all:.1} GFLOP/s on {cores}.\n"
    );
    eprintln!("{}", report.trim_end());

    let _ = writeln!(
        report,
        "| size | samples | steps | run | threads | fps | × bare | predict ms | refine ms | GFLOP/frame | GFLOP/s | % of peak | peak RSS MiB |"
    );
    let _ = writeln!(
        report,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let base = args.sampling.sampling(&bundle);
    for size in &args.sizes {
        let (w, h) = parse_size(size)?;
        let frame = test_frame(w, h);
        let model_flops: ModelFlops = flops::model_flops(&bundle, w as usize, h as usize)?;
        for &samples in &args.sample_counts {
            let sampling = SamplingParams { samples, ..base };
            sampling.schedule()?;
            let per_frame = model_flops.per_frame(sampling.steps, samples) as f64 / 1e9;
            // The element's default split, from the counts made above.
            let balanced =
                PipelineConfig::for_flops(&model_flops, sampling.steps, samples, SelfEnsemble::OFF);
            let element_split = (balanced.predictor.threads, balanced.refiner.threads);
            let mut runs: Vec<(&str, Measured, Option<u64>)> = Vec::new();
            let mut timed =
                |name: &'static str, run: &mut dyn FnMut() -> Result<Measured>| -> Result<()> {
                    memory::reset_peak();
                    eprintln!("bench: {size}, {samples} sample(s): {name}...");
                    let measured = run()?;
                    runs.push((name, measured, memory::peak_resident()));
                    Ok(())
                };
            timed("bare loop", &mut || {
                let mut best: Option<Measured> = None;
                for threads in thread_counts(cores) {
                    let options = SessionOptions {
                        threads,
                        provider: args.model.provider,
                    };
                    let m = bare_loop(&bundle, &frame, sampling, args.frames, options)?;
                    if best.as_ref().is_none_or(|b| m.fps > b.fps) {
                        best = Some(m);
                    }
                }
                Ok(best.expect("at least one thread count"))
            })?;
            timed("library pipeline", &mut || {
                library_pipeline(
                    &bundle,
                    &frame,
                    sampling,
                    args.frames,
                    args.model.provider,
                    args.frames_in_flight,
                    element_split,
                )
            })?;
            for &split in &splits {
                timed("library pipeline", &mut || {
                    library_pipeline(
                        &bundle,
                        &frame,
                        sampling,
                        args.frames,
                        args.model.provider,
                        args.frames_in_flight,
                        split,
                    )
                })?;
            }
            #[cfg(feature = "video")]
            timed("element", &mut || {
                element(
                    args.model.model.as_deref(),
                    args.model.provider,
                    args.frames_in_flight,
                    &frame,
                    sampling,
                    args.frames,
                    |_| {},
                )
            })?;
            let bare_fps = runs[0].1.fps;
            for &(name, ref m, peak) in &runs {
                let gflops = per_frame * m.fps;
                let _ = writeln!(
                    report,
                    "| {size} | {samples} | {} | {name} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {per_frame:.2} | {gflops:.1} | {:.0}% | {} |",
                    sampling.steps,
                    m.threads,
                    m.fps,
                    m.fps / bare_fps,
                    m.predict_ms,
                    m.refine_ms,
                    100.0 * gflops / peak_all,
                    peak.map_or("?".into(), |p| format!("{:.0}", memory::mib(p))),
                );
            }
        }
    }
    #[cfg(not(feature = "video"))]
    let _ = writeln!(
        report,
        "\n(The element was not measured: this build has no `video` feature.)"
    );

    if !args.no_4k {
        memory::reset_peak();
        eprintln!("bench: one 3840x2160 frame through tiling...");
        let started = Instant::now();
        let frame = test_frame(3840, 2160);
        library_pipeline(
            &bundle,
            &frame,
            base,
            1,
            args.model.provider,
            args.frames_in_flight,
            {
                let balanced = PipelineConfig::balanced(
                    &bundle,
                    args.model.provider,
                    base.steps,
                    base.samples,
                    SelfEnsemble::OFF,
                )?;
                (balanced.predictor.threads, balanced.refiner.threads)
            },
        )?;
        let _ = writeln!(
            report,
            "\n4K (3840x2160, tiles of {} px, {} steps): {:.1} s for warm-up and one frame; peak RSS {:.0} MiB.",
            deblur::Tiling::DEFAULT_TILE_SIZE,
            base.steps,
            started.elapsed().as_secs_f64(),
            memory::peak_resident().map_or(f64::NAN, memory::mib)
        );
    }

    #[cfg(feature = "video")]
    if args.soak > 0 {
        eprintln!(
            "bench: soak of {} frames of 64x64 through the element...",
            args.soak
        );
        let frame = test_frame(64, 64);
        let mut warm = None;
        let started = Instant::now();
        let measured = element(
            args.model.model.as_deref(),
            args.model.provider,
            args.frames_in_flight,
            &frame,
            base,
            args.soak - WARM_UP,
            |_| {
                warm = memory::resident();
            },
        )?;
        let end = memory::resident();
        let (warm, end) = (
            warm.map_or(f64::NAN, memory::mib),
            end.map_or(f64::NAN, memory::mib),
        );
        let _ = writeln!(
            report,
            "\nSoak: {} frames of 64x64 through the element in {:.0} s ({:.0} fps): RSS {warm:.1} MiB after warm-up, {end:.1} MiB at the end ({:+.2}%).",
            args.soak,
            started.elapsed().as_secs_f64(),
            measured.fps,
            100.0 * (end - warm) / warm
        );
    }

    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report).map_err(|source| deblur::Error::Io {
            path: out.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Thread counts worth trying for the bare loop.
fn thread_counts(cores: usize) -> Vec<usize> {
    let mut counts = vec![1, cores];
    counts.dedup();
    counts
}
