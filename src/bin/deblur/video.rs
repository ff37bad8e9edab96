//! `deblur video`: recorded footage through the GStreamer element, with a progress bar.

use crate::VideoArgs;
use deblur::Result;

#[cfg(not(feature = "video"))]
pub fn run(_args: &VideoArgs) -> Result<()> {
    Err(deblur::Error::Video {
        reason: "this deblur was built without video support; rebuild with \
                 `cargo build --release --workspace --features video`"
            .into(),
    })
}

#[cfg(feature = "video")]
pub fn run(args: &VideoArgs) -> Result<()> {
    use std::io::{IsTerminal, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use deblur::video::{ElementSettings, Progress, Transcode};

    let settings = ElementSettings {
        model: args.model.model.clone(),
        steps: args.sampling.steps,
        schedule_end: args.sampling.schedule_end,
        samples: Some(args.sampling.samples),
        seed: Some(args.sampling.seed),
        noise_mode: Some(args.noise_mode),
        output: Some(args.output_mode),
        threads: args.threads,
        ensemble: Some(args.sampling.ensemble),
    };
    let transcode = Transcode::new(&args.input, &args.output, &settings, args.quantizer)?;

    // First Ctrl-C: end the input early and finish a valid file; second: quit at once.
    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (stop, presses) = (stop.clone(), presses.clone());
        let installed = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) > 0 {
                eprintln!("\ninterrupted twice: quitting without finishing the file");
                std::process::exit(130);
            }
            stop.store(true, Ordering::SeqCst);
        });
        if let Err(e) = installed {
            tracing::warn!("Ctrl-C will not finish the file cleanly: {e}");
        }
    }

    let terminal = std::io::stderr().is_terminal();
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let mut announced_stop = false;
    let report = transcode.run(&stop, |progress: &Progress| {
        if stop.load(Ordering::SeqCst) && !announced_stop {
            announced_stop = true;
            eprintln!("\nstopping: finishing {}", args.output.display());
        }
        // A bar redrawn in place on a terminal; a line every 5 s in a log.
        if terminal || last_line.elapsed() >= Duration::from_secs(5) {
            last_line = Instant::now();
            let line = progress_line(progress);
            if terminal {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
        }
    })?;
    if terminal {
        eprintln!();
    }
    println!(
        "wrote {}: {} frames in {:.1} s ({:.2} fps){}",
        args.output.display(),
        report.frames,
        report.elapsed.as_secs_f64(),
        report.fps,
        if stop.load(Ordering::SeqCst) {
            ", stopped early"
        } else {
            ""
        }
    );
    Ok(())
}

#[cfg(feature = "video")]
fn progress_line(progress: &deblur::video::Progress) -> String {
    const WIDTH: usize = 30;
    let clock = |d: std::time::Duration| {
        let s = d.as_secs();
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let fraction = progress.fraction();
    let filled = fraction.map_or(0, |f| (f * WIDTH as f64).round() as usize);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    format!(
        "[{bar}] {}  {} frames  {:.2} fps  elapsed {}  ETA {}",
        fraction.map_or("  ?%".into(), |f| format!("{:3.0}%", f * 100.0)),
        progress.frames,
        progress.fps,
        clock(progress.elapsed),
        progress.eta().map_or("?".into(), clock),
    )
}
