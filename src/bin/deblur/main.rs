//! The `deblur` command line: a thin clap layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

mod bench;
mod eval;
mod video;
use deblur::{
    Deblurrer, Error, Extras, FrameSettings, ModelBundle, ModelSpec, NoiseMode, Result, RgbFrame,
    SamplingParams, SelfEnsemble, SessionOptions, Tiling, pipeline::available_cores, runtime,
};

#[derive(Parser)]
#[command(
    name = "deblur",
    version,
    about = "Deblurring by stochastic refinement (predict, then refine by diffusion)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deblur one image (PNG or JPEG in, format chosen by the output's extension).
    Image(ImageArgs),
    /// Deblur recorded footage (audio kept untouched) through the `deblur` GStreamer element.
    Video(VideoArgs),
    /// Measure quality: PSNR, SSIM, detail, flicker; sweep the schedule; write docs/RESULTS.md.
    Eval(eval::EvalArgs),
    /// Measure speed and memory: bare ONNX Runtime loop, library pipeline and element.
    Bench(bench::BenchArgs),
    /// Show the model, the execution provider and the ONNX Runtime library in use.
    Info(ModelArgs),
}

#[derive(Args)]
struct VideoArgs {
    /// Input clip (any container and codec GStreamer can read).
    input: PathBuf,
    /// Output clip: .mp4, .mov or .mkv (H.264 video, audio copied as it was).
    output: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Noise across frames: `locked` (no flicker) or `per-frame`.
    #[arg(long, default_value = "locked")]
    noise_mode: NoiseMode,
    /// What to write: deblurred, predictor, uncertainty or side-by-side.
    #[arg(long, default_value = "deblurred")]
    output_mode: deblur::OutputMode,
    /// ONNX Runtime threads per stage (default: split by each stage's work).
    #[arg(long)]
    threads: Option<u32>,
    /// x264 constant quantizer: lower is better quality and larger files.
    #[arg(long, default_value_t = 18)]
    quantizer: u32,
}

#[derive(Args)]
struct ModelArgs {
    /// Model bundle directory (or its deblur-model.json); the embedded default when omitted.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Execution provider: cpu, cuda or cuda:N. An unavailable provider is an error.
    #[arg(long, default_value = "cpu")]
    provider: deblur::Provider,
}

#[derive(Args)]
struct SamplingArgs {
    /// Reverse diffusion steps; 0 gives the predictor's estimate alone. Default: the model's.
    #[arg(long)]
    steps: Option<u32>,
    /// Samples to average (sample averaging: higher PSNR, less stochastic detail). Above 1, steps
    /// and schedule end default to the model's averaging schedule.
    #[arg(long, default_value_t = 1)]
    samples: u32,
    /// Final 1−α of the inference schedule (linear from 1e-6). Default: the model's.
    #[arg(long, value_name = "BETA")]
    schedule_end: Option<f64>,
    /// Noise seed; the same seed gives bit-identical output.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Self-ensemble: average the predictor over 1 (off), 2, 4 or 8 flips and quarter turns of
    /// the frame, at that many predictor runs: higher PSNR, less fine detail.
    #[arg(long, default_value_t = SelfEnsemble::OFF)]
    ensemble: SelfEnsemble,
}

impl SamplingArgs {
    fn sampling(&self, bundle: &ModelBundle) -> SamplingParams {
        let tuned = bundle.tuned_sampling().for_samples(self.samples);
        SamplingParams {
            steps: self.steps.unwrap_or(tuned.steps),
            schedule_end: self.schedule_end.unwrap_or(tuned.schedule_end),
            samples: self.samples,
        }
    }
}

#[derive(Args)]
struct ImageArgs {
    /// Blurry input image.
    input: PathBuf,
    /// Where to write the deblurred image.
    output: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// ONNX Runtime threads per network (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Largest tile side; larger images are cut into overlapping tiles.
    #[arg(long, default_value_t = Tiling::DEFAULT_TILE_SIZE)]
    tile_size: usize,
    /// Pixels shared by neighbouring tiles.
    #[arg(long, default_value_t = Tiling::DEFAULT_OVERLAP)]
    tile_overlap: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,deblur=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Image(args) => run_image(&args),
        Command::Video(args) => video::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Info(args) => run_info(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn read_image(path: &Path) -> Result<RgbFrame> {
    let image = image::open(path).map_err(|source| Error::Image {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(image.into_rgb8().into())
}

fn run_image(args: &ImageArgs) -> Result<()> {
    let bundle = ModelBundle::load_or_default(args.model.model.as_deref())?;
    let tiling = Tiling::new(args.tile_size, args.tile_overlap)?;
    let sampling = args.sampling.sampling(&bundle);
    sampling.schedule()?;
    let frame = read_image(&args.input)?;
    let options = SessionOptions {
        threads: args.threads.unwrap_or_else(available_cores),
        provider: args.model.provider,
    };
    let load_started = Instant::now();
    let mut deblurrer = Deblurrer::new(
        bundle.predictor(options)?,
        bundle.denoiser(options)?,
        ModelSpec::from(&bundle),
        tiling,
    );
    tracing::info!(
        model = bundle.origin(),
        ms = load_started.elapsed().as_millis() as u64,
        "model loaded"
    );
    let settings = FrameSettings {
        sampling,
        seed: args.sampling.seed,
        noise_mode: NoiseMode::Locked,
        extras: Extras::default(),
        ensemble: args.sampling.ensemble,
    };
    let started = Instant::now();
    let deblurred = deblurrer.deblur(&frame, &settings, 0)?;
    tracing::info!(
        width = frame.width(),
        height = frame.height(),
        steps = sampling.steps,
        samples = sampling.samples,
        schedule_end = sampling.schedule_end,
        ensemble = settings.ensemble.size(),
        predict_ms = deblurred.timings.predict.as_millis() as u64,
        refine_ms = deblurred.timings.refine.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "deblurred"
    );
    let output: image::RgbImage = deblurred.image.into();
    output.save(&args.output).map_err(|source| Error::Image {
        path: args.output.clone(),
        source,
    })?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn run_info(args: &ModelArgs) -> Result<()> {
    let bundle = ModelBundle::load_or_default(args.model.as_deref())?;
    let m = bundle.manifest();
    let tuned = bundle.tuned_sampling();
    println!("model:            {} ({})", m.name, bundle.origin());
    if !m.description.is_empty() {
        println!("                  {}", m.description);
    }
    println!(
        "value range:      [{}, {}]",
        m.value_range[0], m.value_range[1]
    );
    println!("pad multiple:     {}", m.pad_multiple);
    println!("noise level:      {:?}", m.noise_level);
    println!(
        "trained schedule: {} 1-alpha from {:e} to {} over {} steps",
        m.training_schedule.kind,
        m.training_schedule.start,
        m.training_schedule.end,
        m.training_schedule.steps
    );
    println!(
        "default sampling: {} steps, schedule end {}",
        tuned.single.steps, tuned.single.schedule_end
    );
    println!(
        "averaging:        {} steps, schedule end {} (with --samples above 1)",
        tuned.averaged.steps, tuned.averaged.schedule_end
    );
    let runtime = runtime::runtime()?;
    let available: Vec<String> = [deblur::Provider::Cpu, deblur::Provider::Cuda { device: 0 }]
        .into_iter()
        .filter(|p| p.is_available().unwrap_or(false))
        .map(|p| p.to_string())
        .collect();
    println!(
        "providers:        {} available; using {}",
        available.join(", "),
        args.provider
    );
    println!(
        "onnx runtime:     {} at {} (found via {})",
        runtime.version,
        runtime.path.display(),
        runtime.found_by
    );
    let options = SessionOptions {
        provider: args.provider,
        ..SessionOptions::default()
    };
    bundle.predictor(options)?;
    bundle.denoiser(options)?;
    println!(
        "model check:      both networks load on {} and match the bundle format",
        args.provider
    );
    Ok(())
}
