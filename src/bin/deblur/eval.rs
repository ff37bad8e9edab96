//! `deblur eval`: quality on pairs of blurry and sharp images or frames, the schedule sweep, the
//! fast default and `docs/RESULTS.md`. A thin layer over [`deblur::eval`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use deblur::eval::report::{self, format_duration};
use deblur::eval::{
    self, AveragingDefault, Evaluator, FastDefault, ModelInfo, Pair, Progress, Report, SweepGrid,
    Table, TableSettings,
};
use deblur::pipeline::available_cores;
use deblur::{Error, ModelBundle, ModelSpec, Result, SelfEnsemble, SessionOptions, Tiling};

#[derive(Args)]
pub struct EvalArgs {
    /// Folder of blurry photos, paired by file name with the images of --sharp.
    #[arg(long, value_name = "DIR", requires = "sharp")]
    blurry: Option<PathBuf>,
    /// Folder of the sharp references of --blurry.
    #[arg(long, value_name = "DIR", requires = "blurry")]
    sharp: Option<PathBuf>,
    /// Folder of a clip's blurry frames, in name order.
    #[arg(long, value_name = "DIR", requires = "clip_sharp")]
    clip_blurry: Option<PathBuf>,
    /// Folder of the clip's sharp frames, in name order.
    #[arg(long, value_name = "DIR", requires = "clip_blurry")]
    clip_sharp: Option<PathBuf>,
    #[command(flatten)]
    model: crate::ModelArgs,
    /// Sweep: reverse steps, a comma list.
    #[arg(long, value_delimiter = ',', default_values_t = SweepGrid::PAPER_STEPS)]
    steps_grid: Vec<u32>,
    /// Sweep: schedule ends (final 1−α), a comma list.
    #[arg(long, value_delimiter = ',', default_values_t = SweepGrid::DEFAULT_ENDS)]
    ends_grid: Vec<f64>,
    /// Sweep: sample counts averaged, a comma list (one batch of the largest serves all).
    #[arg(long, value_delimiter = ',', default_values_t = SweepGrid::PAPER_SAMPLES)]
    samples_grid: Vec<u32>,
    /// Sweep: side of the centre crop each image is cut to, pixels (0: whole images).
    #[arg(long, default_value_t = 192)]
    crop: u32,
    /// Use only the first N photo pairs (by name), for the table and the sweep.
    #[arg(long, value_name = "N")]
    max_images: Option<usize>,
    /// Sweep only the first N of the photo pairs (the sweep costs most).
    #[arg(long, value_name = "N")]
    sweep_images: Option<usize>,
    /// Skip the sweep: tables and figures only.
    #[arg(long)]
    no_sweep: bool,
    /// Samples averaged in the tables' SA rows.
    #[arg(long, default_value_t = 8)]
    sa_samples: u32,
    /// Photos shown side by side and with their uncertainty in the report.
    #[arg(long, value_name = "N", default_value_t = 2)]
    figures: usize,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Average the predictor over 1, 2, 4 or 8 flips and quarter turns of each image.
    #[arg(long, default_value_t = SelfEnsemble::OFF)]
    ensemble: SelfEnsemble,
    /// ONNX Runtime threads per network (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to write the report.
    #[arg(long, value_name = "FILE", default_value = "docs/RESULTS.md")]
    results: PathBuf,
    /// Where to write the report's images.
    #[arg(long, value_name = "DIR", default_value = "docs/images")]
    images_dir: PathBuf,
    /// The command the report names as the one that regenerates it (default: this one).
    #[arg(long, value_name = "TEXT")]
    command: Option<String>,
    /// How the inputs were made (Markdown), for the report's "How this was made".
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Write the fast default and the averaging schedule chosen from the sweep into the manifest
    /// of --model.
    #[arg(long)]
    write_defaults: bool,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let started = Instant::now();
    if args.blurry.is_none() && args.clip_blurry.is_none() {
        return Err(Error::InvalidConfig {
            name: "inputs",
            value: "none".into(),
            expected: "--blurry DIR --sharp DIR (photo pairs), --clip-blurry DIR --clip-sharp \
                       DIR (a clip), or both"
                .into(),
        });
    }
    if args.write_defaults && args.model.model.is_none() {
        return Err(Error::InvalidConfig {
            name: "write-defaults",
            value: "the embedded default model".into(),
            expected: "--model DIR naming a bundle directory: the embedded model is compiled \
                       into the binary, so write to its source instead (--model models/default) \
                       and rebuild"
                .into(),
        });
    }
    if args.write_defaults && args.ensemble != SelfEnsemble::OFF {
        return Err(Error::InvalidConfig {
            name: "write-defaults",
            value: format!("with --ensemble {}", args.ensemble),
            expected: "--ensemble 1: the schedules in the manifest serve every user, and the \
                       predictor runs once unless a user asks for the ensemble"
                .into(),
        });
    }
    let grid = SweepGrid {
        steps: args.steps_grid.clone(),
        schedule_ends: args.ends_grid.clone(),
        samples: args.samples_grid.clone(),
    }
    .checked()?;
    let bundle = ModelBundle::load_or_default(args.model.model.as_deref())?;
    let options = SessionOptions {
        threads: args.threads.unwrap_or_else(available_cores),
        provider: args.model.provider,
    };
    let mut evaluator = Evaluator::new(
        bundle.predictor(options)?,
        bundle.denoiser(options)?,
        ModelSpec::from(&bundle),
        Tiling::default(),
    )
    .with_ensemble(args.ensemble);
    let tuned = bundle.default_sampling();
    let averaging = bundle.tuned_sampling().averaged;
    let settings = TableSettings {
        steps: tuned.steps,
        schedule_end: tuned.schedule_end,
        averaged_samples: args.sa_samples,
        averaged_steps: averaging.steps,
        averaged_schedule_end: averaging.schedule_end,
        seed: args.seed,
    };
    eprintln!(
        "model {} ({}); default schedule {} steps, end {}; averaging {} steps, end {}; predictor \
         over {} orientation(s)",
        bundle.manifest().name,
        bundle.origin(),
        tuned.steps,
        tuned.schedule_end,
        averaging.steps,
        averaging.schedule_end,
        args.ensemble
    );

    let mut pairs: Vec<Pair> = Vec::new();
    if let (Some(blurry), Some(sharp)) = (&args.blurry, &args.sharp) {
        pairs = eval::load_pairs(blurry, sharp)?;
        pairs.truncate(args.max_images.unwrap_or(usize::MAX));
    }
    let mut sweep = None;
    let mut fast_default: Option<FastDefault> = None;
    let mut averaging_default: Option<AveragingDefault> = None;
    if args.no_sweep {
        eprintln!("sweep skipped (--no-sweep)");
    } else if pairs.is_empty() {
        eprintln!("sweep skipped: it runs on photo pairs (--blurry and --sharp)");
    } else {
        let count = args.sweep_images.unwrap_or(pairs.len()).min(pairs.len());
        let crop = (args.crop > 0).then_some(args.crop);
        let result = eval::run_sweep(
            &mut evaluator,
            &pairs[..count],
            &grid,
            crop,
            args.seed,
            &mut progress_printer(),
        )?;
        println!(
            "\nFast default rule: {}.",
            eval::defaults::fast_default_rule()
        );
        fast_default = eval::choose_fast_default(&result.points, result.predictor.psnr);
        match &fast_default {
            Some(fast) => println!("Fast default: {}.", fast.summary()),
            None => println!(
                "Fast default: none (no setting with at most {} steps and 1 sample).",
                eval::FAST_MAX_STEPS
            ),
        }
        averaging_default = eval::choose_averaging_default(&result.points, args.sa_samples);
        match &averaging_default {
            Some(averaging) => println!("Averaging schedule: {}.", averaging.summary()),
            None => println!(
                "Averaging schedule: none (no setting with at most {} steps and {} samples).",
                eval::FAST_MAX_STEPS,
                args.sa_samples
            ),
        }
        sweep = Some(result);
    }

    // With --write-defaults the tables show the schedule that becomes the default.
    let mut settings = settings;
    if args.write_defaults {
        if let Some(fast) = &fast_default {
            settings.steps = fast.point.steps;
            settings.schedule_end = fast.point.schedule_end;
        }
        if let Some(averaging) = &averaging_default {
            settings.averaged_steps = averaging.point.steps;
            settings.averaged_schedule_end = averaging.point.schedule_end;
        }
    }
    let mut photos = None;
    let mut figures = Vec::new();
    if let (Some(blurry), Some(sharp)) = (&args.blurry, &args.sharp) {
        let source = format!(
            "Pairs from `{}` and `{}`",
            blurry.display(),
            sharp.display()
        );
        let (table, shown) = eval::photo_table(
            &mut evaluator,
            &pairs,
            &settings,
            args.figures,
            &mut progress_printer(),
        )?;
        print_table("Photos", "images", &table);
        photos = Some((table, source));
        figures = shown;
    }
    let mut clip = None;
    if let (Some(blurry), Some(sharp)) = (&args.clip_blurry, &args.clip_sharp) {
        let frames = eval::load_clip(blurry, sharp)?;
        let table = eval::clip_table(&mut evaluator, &frames, &settings, &mut progress_printer())?;
        print_table("Clip", "frames", &table);
        let source = format!(
            "Frames from `{}` and `{}`",
            blurry.display(),
            sharp.display()
        );
        clip = Some((table, source));
    }

    let mut defaults_written = None;
    if args.write_defaults {
        let (Some(model), Some(fast)) = (&args.model.model, &fast_default) else {
            return Err(Error::InvalidConfig {
                name: "write-defaults",
                value: "no fast default".into(),
                expected: format!(
                    "a sweep (photo pairs, no --no-sweep) whose grid has a setting with at most \
                     {} steps and 1 sample",
                    eval::FAST_MAX_STEPS
                ),
            });
        };
        let path = eval::write_default_sampling(model, fast.point.steps, fast.point.schedule_end)?;
        println!("wrote default_sampling into {}", path.display());
        if let Some(averaging) = &averaging_default {
            eval::write_averaging_sampling(
                model,
                averaging.point.steps,
                averaging.point.schedule_end,
            )?;
            println!("wrote averaging_sampling into {}", path.display());
        }
        defaults_written = Some(path);
    }

    // A script that runs eval names itself as the command; the report then also shows this
    // invocation.
    let (command, invocation) = match &args.command {
        Some(command) => (
            command.clone(),
            Some(this_command(&["--command", "--note"])),
        ),
        None => (this_command(&[]), None),
    };
    let mut model = ModelInfo::from(&bundle);
    if defaults_written.is_some() {
        model.default_sampling.steps = settings.steps;
        model.default_sampling.schedule_end = settings.schedule_end;
        model.averaging_sampling.steps = settings.averaged_steps;
        model.averaging_sampling.schedule_end = settings.averaged_schedule_end;
    }
    let report = Report {
        model,
        photos: photos.as_ref().map(|(t, s)| (t, s.clone())),
        figures: &figures,
        clip: clip.as_ref().map(|(t, s)| (t, s.clone())),
        sweep: sweep.as_ref(),
        fast_default: fast_default.as_ref(),
        averaging_default: averaging_default.as_ref(),
        defaults_written,
        command,
        invocation,
        note: args.note.clone(),
        date: report::utc_now(),
        machine: report::describe_machine(),
        elapsed: started.elapsed(),
    };
    for path in report.write(&args.results, &args.images_dir)? {
        println!("wrote {}", path.display());
    }
    eprintln!("eval took {}", format_duration(started.elapsed()));
    Ok(())
}

/// Prints progress lines on stderr: the first, then at most one every few seconds, and the last.
fn progress_printer() -> impl FnMut(&Progress) {
    const EVERY: Duration = Duration::from_secs(5);
    let mut last_printed: Option<Duration> = None;
    move |p: &Progress| {
        let due = last_printed.is_none_or(|at| p.elapsed >= at + EVERY);
        if !(due || p.done == p.total) {
            return;
        }
        last_printed = Some(p.elapsed);
        let unit = match p.phase {
            "sweep" => "points",
            "clip" => "frames",
            _ => "images",
        };
        let left = p.eta().map_or_else(
            || "time left unknown".into(),
            |eta| format!("about {} left", format_duration(eta)),
        );
        eprintln!(
            "{}: {}/{} {unit} ({:.0}%), {} elapsed, {left}",
            p.phase,
            p.done,
            p.total,
            100.0 * p.done as f64 / p.total.max(1) as f64,
            format_duration(p.elapsed)
        );
    }
}

fn print_table(title: &str, unit: &str, table: &Table) {
    println!("\n{title} ({} {unit}):", table.names.len());
    println!(
        "  {:<16} {:<40} {:>7} {:>6} {:>7} {:>9}",
        "", "setting", "PSNR", "SSIM", "detail", "temporal"
    );
    for row in &table.rows {
        let temporal = row
            .temporal_error
            .map_or(String::new(), |t| format!("{t:.2}"));
        println!(
            "  {:<16} {:<40} {:>7.2} {:>6.3} {:>7.3} {:>9}",
            row.label,
            row.setting,
            row.scores.psnr,
            row.scores.ssim,
            row.scores.detail_ratio,
            temporal
        );
    }
}

/// This process's command line, quoted for a POSIX shell, without the options in `leave_out`
/// (and their values).
fn this_command(leave_out: &[&str]) -> String {
    let quote = |arg: String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@".contains(c));
        if plain {
            arg
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    let mut args = std::env::args();
    let program = args.next().map_or_else(
        || "deblur".into(),
        |p| {
            PathBuf::from(p)
                .file_name()
                .map_or_else(|| "deblur".into(), |n| n.to_string_lossy().into_owned())
        },
    );
    let mut kept = vec![program];
    while let Some(arg) = args.next() {
        let option = arg.split('=').next().unwrap_or_default();
        if leave_out.contains(&option) {
            if !arg.contains('=') {
                args.next();
            }
            continue;
        }
        kept.push(quote(arg));
    }
    kept.join(" ")
}
