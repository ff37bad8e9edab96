//! What a deblurred frame is shown as: the output itself, the predictor's estimate, a heat map
//! of the uncertainty across samples, or the input and output side by side.

use crate::engine::{Deblurred, Extras, Uncertainty};
use crate::error::{Error, Result};
use crate::frame::RgbFrame;

/// Which image a video output carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OutputMode {
    /// g(y) plus the sampled residual.
    #[default]
    Deblurred,
    /// g(y) alone, as refined frames would be without diffusion.
    Predictor,
    /// A heat map of the per-pixel standard deviation across samples (needs `samples` > 1).
    Uncertainty,
    /// The input on the left, the output on the right: twice the width.
    SideBySide,
}

impl OutputMode {
    /// The extra images the engine must return for this mode.
    pub fn extras(self) -> Extras {
        Extras {
            predictor: self == OutputMode::Predictor,
            uncertainty: self == OutputMode::Uncertainty,
        }
    }

    /// The output size for an input of `width` x `height`.
    pub fn output_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            OutputMode::SideBySide => (width * 2, height),
            _ => (width, height),
        }
    }

    /// Builds the output image of this mode. `input` is needed for side by side only.
    pub fn compose(self, input: &RgbFrame, deblurred: Deblurred) -> Result<RgbFrame> {
        let missing = |what: &str| Error::InvalidFrame {
            reason: format!(
                "output mode {self:?} needs the {what}, which the engine did not return"
            ),
        };
        match self {
            OutputMode::Deblurred => Ok(deblurred.image),
            OutputMode::Predictor => deblurred
                .predictor
                .ok_or_else(|| missing("predictor image")),
            OutputMode::Uncertainty => deblurred
                .uncertainty
                .as_ref()
                .map(heat_map)
                .ok_or_else(|| missing("uncertainty map")),
            OutputMode::SideBySide => side_by_side(input, &deblurred.image),
        }
    }
}

impl std::str::FromStr for OutputMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "deblurred" => Ok(OutputMode::Deblurred),
            "predictor" => Ok(OutputMode::Predictor),
            "uncertainty" => Ok(OutputMode::Uncertainty),
            "side-by-side" => Ok(OutputMode::SideBySide),
            other => Err(Error::invalid_config(
                "output",
                other,
                "`deblurred`, `predictor`, `uncertainty` or `side-by-side`",
            )),
        }
    }
}

/// The standard deviation (in model units) shown at full heat.
pub const HEAT_MAP_FULL_SCALE: f32 = 0.25;

/// Black through red and yellow to white as the spread grows from 0 to
/// [`HEAT_MAP_FULL_SCALE`] (a fixed scale, so that video does not pump).
pub fn heat_map(uncertainty: &Uncertainty) -> RgbFrame {
    let data = uncertainty
        .values
        .iter()
        .flat_map(|&v| {
            let t = (v / HEAT_MAP_FULL_SCALE).clamp(0.0, 1.0);
            let channel = |start: f32| ((t - start) * 3.0).clamp(0.0, 1.0);
            [channel(0.0), channel(1.0 / 3.0), channel(2.0 / 3.0)]
                .map(|c| (c * 255.0).round() as u8)
        })
        .collect();
    RgbFrame::new(uncertainty.width as u32, uncertainty.height as u32, data)
        .expect("the uncertainty map has width * height values")
}

/// `left` and `right`, of equal size, next to each other.
pub fn side_by_side(left: &RgbFrame, right: &RgbFrame) -> Result<RgbFrame> {
    if (left.width(), left.height()) != (right.width(), right.height()) {
        return Err(Error::InvalidFrame {
            reason: format!(
                "side by side needs equal sizes: left {}x{}, right {}x{}",
                left.width(),
                left.height(),
                right.width(),
                right.height()
            ),
        });
    }
    let row = left.width() as usize * 3;
    let mut data = Vec::with_capacity(row * 2 * left.height() as usize);
    for (l, r) in left
        .data()
        .chunks_exact(row)
        .zip(right.data().chunks_exact(row))
    {
        data.extend_from_slice(l);
        data.extend_from_slice(r);
    }
    RgbFrame::new(left.width() * 2, left.height(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_map_runs_from_black_to_white() {
        let map = heat_map(&Uncertainty {
            width: 3,
            height: 1,
            values: vec![0.0, HEAT_MAP_FULL_SCALE / 2.0, 10.0],
        });
        assert_eq!(&map.data()[..3], &[0, 0, 0]);
        assert_eq!(&map.data()[6..], &[255, 255, 255]);
        let middle = &map.data()[3..6];
        assert!(middle[0] == 255 && middle[1] > 0 && middle[1] < 255 && middle[2] == 0);
    }

    #[test]
    fn side_by_side_puts_rows_together() {
        let left = RgbFrame::new(1, 2, vec![1, 1, 1, 2, 2, 2]).unwrap();
        let right = RgbFrame::new(1, 2, vec![3, 3, 3, 4, 4, 4]).unwrap();
        let both = side_by_side(&left, &right).unwrap();
        assert_eq!((both.width(), both.height()), (2, 2));
        assert_eq!(both.data(), &[1, 1, 1, 3, 3, 3, 2, 2, 2, 4, 4, 4]);
        assert!(side_by_side(&left, &RgbFrame::new(1, 1, vec![0; 3]).unwrap()).is_err());
    }
}
