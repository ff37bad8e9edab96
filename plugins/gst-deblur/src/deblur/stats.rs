//! Read-only statistics, and when they call for a new latency or a warning.

use std::time::Instant;

/// What one recorded frame asks the element to do.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Follow {
    /// Post a LATENCY message: the compute per frame moved far from what was reported.
    pub relatency: bool,
    /// Warn once: a frame took longer than the whole reported latency (compute, reported).
    pub overrun: Option<(gst::ClockTime, gst::ClockTime)>,
}

/// Moving averages and counters.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub fps: f64,
    pub predict_ms: f64,
    pub refine_ms: f64,
    pub processed: u64,
    pub dropped: u64,
    last_output: Option<Instant>,
    /// The latency last reported, and the compute per frame it included.
    reported: Option<(gst::ClockTime, gst::ClockTime)>,
    overrun_warned: bool,
}

/// Weight of the newest value in the moving averages.
const SMOOTHING: f64 = 0.2;

impl Stats {
    /// The smoothed compute time per frame (both stages).
    pub fn compute(&self) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(((self.predict_ms + self.refine_ms) * 1e6) as u64)
    }

    /// Remembers a latency answer and the compute it included.
    pub fn reported(&mut self, latency: gst::ClockTime, compute: gst::ClockTime) {
        self.reported = Some((latency, compute));
    }

    /// Takes in one output frame with its stage times (ms) at `now`.
    pub fn record(&mut self, predict_ms: f64, refine_ms: f64, now: Instant) -> Follow {
        let first = self.processed == 0;
        let ema = |old: f64, new: f64| {
            if first {
                new
            } else {
                old + SMOOTHING * (new - old)
            }
        };
        self.predict_ms = ema(self.predict_ms, predict_ms);
        self.refine_ms = ema(self.refine_ms, refine_ms);
        if let Some(last) = self.last_output {
            let rate = 1.0 / now.duration_since(last).as_secs_f64().max(1e-6);
            self.fps = if self.fps == 0.0 {
                rate
            } else {
                self.fps + SMOOTHING * (rate - self.fps)
            };
        }
        self.last_output = Some(now);
        self.processed += 1;

        let frame = gst::ClockTime::from_nseconds(((predict_ms + refine_ms) * 1e6) as u64);
        let Some((latency, included)) = self.reported else {
            // Nobody asked yet: the first answer will include what was measured.
            return Follow::default();
        };
        let overrun = (frame > latency && !self.overrun_warned).then_some((frame, latency));
        self.overrun_warned |= overrun.is_some();
        let smoothed = self.compute().nseconds() as f64;
        let included = included.nseconds() as f64;
        // Re-announce when the compute moved by half (and by more than 5 ms) since the answer.
        let drifted = (smoothed - included).abs() > (0.5 * included).max(5e6);
        Follow {
            relatency: drifted || overrun.is_some(),
            overrun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: gst::ClockTime = gst::ClockTime::MSECOND;

    #[test]
    fn latency_is_re_announced_only_when_compute_moves() {
        let mut stats = Stats::default();
        let start = Instant::now();
        assert_eq!(stats.record(10.0, 30.0, start), Follow::default());
        stats.reported(120 * MS, stats.compute());
        let steady = stats.record(11.0, 29.0, start + Duration::from_millis(40));
        assert!(!steady.relatency && steady.overrun.is_none());
        // Much slower frames: the smoothed compute climbs past half again.
        let mut follow = Follow::default();
        for i in 0..10 {
            follow = stats.record(20.0, 60.0, start + Duration::from_millis(80 + 40 * i));
            if follow.relatency {
                break;
            }
        }
        assert!(follow.relatency);
        assert!(stats.fps > 20.0 && stats.fps < 30.0);
    }

    #[test]
    fn an_overrun_is_warned_once() {
        let mut stats = Stats::default();
        let now = Instant::now();
        stats.record(10.0, 10.0, now);
        stats.reported(50 * MS, stats.compute());
        let late = stats.record(40.0, 40.0, now);
        assert_eq!(late.overrun, Some((80 * MS, 50 * MS)));
        assert!(late.relatency);
        assert_eq!(stats.record(40.0, 40.0, now).overrun, None);
    }
}
