//! Quality of service: when downstream reports that frames arrive late, spend less on them.
//!
//! Each late report lowers the diffusion steps by one, down to the predictor alone; only a late
//! report that comes with the steps already at 0 makes late frames get dropped. Reports of
//! frames on time, with headroom, give the steps back one at a time.

/// What QoS has decided so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Qos {
    /// Frames ending before this running time are late.
    earliest: Option<gst::ClockTime>,
    /// The most steps a frame gets; `None`: as configured.
    steps_cap: Option<u32>,
    /// Lateness was reported with the steps already at 0: late frames are dropped.
    dropping: bool,
}

impl Qos {
    /// Below this proportion (processing time over real time) a report of frames on time
    /// gives one step back.
    const HEADROOM: f64 = 0.8;

    /// The current cap on steps, if any.
    pub fn steps_cap(&self) -> Option<u32> {
        self.steps_cap
    }

    /// Takes in a QoS event: `diff` > 0 means the frame at running time `timestamp` arrived
    /// `diff` nanoseconds late.
    pub fn observe(
        &mut self,
        configured_steps: u32,
        proportion: f64,
        diff: i64,
        timestamp: Option<gst::ClockTime>,
    ) {
        let cap = self
            .steps_cap
            .unwrap_or(configured_steps)
            .min(configured_steps);
        if diff > 0 {
            // As GstBaseTransform does: expect the next frames to be as late again.
            self.earliest = timestamp.map(|t| t + gst::ClockTime::from_nseconds(2 * diff as u64));
            self.dropping = cap == 0;
            self.steps_cap = Some(cap.saturating_sub(1));
        } else {
            self.earliest = None;
            self.dropping = false;
            if proportion < Self::HEADROOM {
                self.steps_cap = (cap + 1 < configured_steps).then_some(cap + 1);
            }
        }
    }

    /// The steps for a frame whose end has running time `end`, or `None` to drop it.
    pub fn steps_for(&self, configured_steps: u32, end: Option<gst::ClockTime>) -> Option<u32> {
        let late = matches!((self.earliest, end), (Some(earliest), Some(end)) if end < earliest);
        if late && self.dropping {
            return None;
        }
        Some(
            self.steps_cap
                .map_or(configured_steps, |cap| cap.min(configured_steps)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: gst::ClockTime = gst::ClockTime::MSECOND;

    #[test]
    fn steps_fall_to_zero_before_any_frame_is_dropped() {
        let mut qos = Qos::default();
        assert_eq!(qos.steps_for(3, Some(10 * MS)), Some(3));
        for expected in [2, 1, 0] {
            qos.observe(3, 2.0, 50_000_000, Some(100 * MS));
            assert_eq!(qos.steps_cap(), Some(expected));
            assert_eq!(
                qos.steps_for(3, Some(120 * MS)),
                Some(expected),
                "late, but not dropped"
            );
        }
        qos.observe(3, 2.0, 50_000_000, Some(100 * MS));
        assert_eq!(
            qos.steps_for(3, Some(120 * MS)),
            None,
            "late at 0 steps: dropped"
        );
        assert_eq!(
            qos.steps_for(3, Some(300 * MS)),
            Some(0),
            "after the late window"
        );
    }

    #[test]
    fn frames_on_time_with_headroom_win_steps_back() {
        let mut qos = Qos::default();
        for _ in 0..4 {
            qos.observe(2, 2.0, 50_000_000, Some(100 * MS));
        }
        assert_eq!(qos.steps_for(2, Some(110 * MS)), None);
        qos.observe(2, 0.9, -1_000_000, Some(200 * MS));
        assert_eq!(
            qos.steps_for(2, Some(110 * MS)),
            Some(0),
            "on time: no more drops"
        );
        qos.observe(2, 0.5, -1_000_000, Some(240 * MS));
        assert_eq!(qos.steps_cap(), Some(1));
        qos.observe(2, 0.5, -1_000_000, Some(280 * MS));
        assert_eq!(qos.steps_cap(), None, "back to the configured steps");
    }
}
