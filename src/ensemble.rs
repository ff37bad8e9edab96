//! Geometric self-ensemble of the predictor (Lim et al. 2017, "EDSR+"): g runs on the frame as
//! it is and mirrored or turned, each estimate is turned back, and their mean is the estimate.
//!
//! Camera shake has no preferred direction and the networks train on flipped and rotated crops,
//! but a network is not exactly symmetric: its errors under different orientations partly cancel
//! in the mean. The cost is one predictor run per orientation; the denoiser is untouched.

use crate::error::{Error, Result};
use crate::network::Predict;
use crate::tensor::Tensor;

/// How many orientations of the frame the predictor sees: 1 (off), 2 (the frame and its mirror
/// image), 4 (also upside down, mirrored and not) or 8 (also turned a quarter either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SelfEnsemble {
    size: u8,
}

impl Default for SelfEnsemble {
    fn default() -> Self {
        SelfEnsemble::OFF
    }
}

impl SelfEnsemble {
    /// One predictor run on the frame as it is.
    pub const OFF: SelfEnsemble = SelfEnsemble { size: 1 };
    /// All eight flips and quarter turns.
    pub const FULL: SelfEnsemble = SelfEnsemble { size: 8 };
    /// The sizes accepted by [`SelfEnsemble::new`].
    pub const SIZES: [u32; 4] = [1, 2, 4, 8];

    /// An ensemble of `size` orientations; only the sizes in [`SelfEnsemble::SIZES`] exist.
    pub fn new(size: u32) -> Result<Self> {
        if Self::SIZES.contains(&size) {
            Ok(SelfEnsemble { size: size as u8 })
        } else {
            Err(Self::invalid(size))
        }
    }

    fn invalid(value: impl ToString) -> Error {
        Error::InvalidConfig {
            name: "ensemble",
            value: value.to_string(),
            expected: "1, 2, 4 or 8 orientations".into(),
        }
    }

    /// Predictor runs per tile.
    pub fn size(self) -> u32 {
        u32::from(self.size)
    }

    /// The orientations, the frame as it is first. Up to 4 they keep the tile's shape.
    fn orientations(self) -> &'static [Orientation] {
        const ALL: [Orientation; 8] = [
            Orientation::new(0, false),
            Orientation::new(0, true),
            Orientation::new(2, false),
            Orientation::new(2, true),
            Orientation::new(1, false),
            Orientation::new(1, true),
            Orientation::new(3, false),
            Orientation::new(3, true),
        ];
        &ALL[..self.size as usize]
    }
}

impl std::fmt::Display for SelfEnsemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.size)
    }
}

impl std::str::FromStr for SelfEnsemble {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let size = text
            .trim()
            .parse::<u32>()
            .map_err(|_| Self::invalid(text))?;
        SelfEnsemble::new(size)
    }
}

/// g(y) under `ensemble`: the mean of the estimates of every orientation, each turned back.
/// With [`SelfEnsemble::OFF`] this is one plain predictor run.
pub fn predict(
    predictor: &mut (impl Predict + ?Sized),
    blurry: &Tensor,
    ensemble: SelfEnsemble,
) -> Result<Tensor> {
    let orientations = ensemble.orientations();
    if orientations.len() == 1 {
        return predictor.predict(blurry);
    }
    let mut estimate_in = |orientation: &Orientation| -> Result<Tensor> {
        let estimate = predictor.predict(&orientation.apply(blurry))?;
        Ok(orientation.inverse().apply(&estimate))
    };
    let mut mean = estimate_in(&orientations[0])?;
    for orientation in &orientations[1..] {
        let estimate = estimate_in(orientation)?;
        if estimate.shape() != mean.shape() {
            return Err(Error::InvalidFrame {
                reason: format!(
                    "the predictor's estimate of a turned tile, turned back, is {:?}; expected {:?}",
                    estimate.shape(),
                    mean.shape()
                ),
            });
        }
        for (total, value) in mean.data_mut().iter_mut().zip(estimate.data()) {
            *total += value;
        }
    }
    let scale = 1.0 / orientations.len() as f32;
    mean.data_mut().iter_mut().for_each(|v| *v *= scale);
    Ok(mean)
}

/// A mirror image about the vertical axis (when `mirrored`), then `quarter_turns`
/// anticlockwise quarter turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Orientation {
    quarter_turns: u8,
    mirrored: bool,
}

impl Orientation {
    pub(crate) const fn new(quarter_turns: u8, mirrored: bool) -> Self {
        Orientation {
            quarter_turns: quarter_turns % 4,
            mirrored,
        }
    }

    /// The orientation that undoes this one. Every mirrored orientation is a reflection, its own
    /// inverse; the turns alone undo by turning the rest of the way round.
    pub(crate) fn inverse(self) -> Self {
        if self.mirrored {
            self
        } else {
            Orientation::new(4 - self.quarter_turns, false)
        }
    }

    /// `tensor` (N x C x H x W) in this orientation; a quarter turn swaps H and W.
    pub(crate) fn apply(self, tensor: &Tensor) -> Tensor {
        let mut out = if self.mirrored {
            mirror(tensor)
        } else {
            tensor.clone()
        };
        for _ in 0..self.quarter_turns {
            out = quarter_turn(&out);
        }
        out
    }
}

fn mirror(tensor: &Tensor) -> Tensor {
    let [n, c, h, w] = tensor.shape();
    let mut out = Vec::with_capacity(tensor.data().len());
    for row in tensor.data().chunks_exact(w) {
        out.extend(row.iter().rev());
    }
    Tensor::from_vec(n, c, h, w, out)
}

/// One anticlockwise quarter turn: output (i, j) is input (j, W − 1 − i), as numpy's `rot90`.
fn quarter_turn(tensor: &Tensor) -> Tensor {
    let [n, c, h, w] = tensor.shape();
    let mut out = Vec::with_capacity(tensor.data().len());
    for plane in tensor.data().chunks_exact(h * w) {
        for i in 0..w {
            out.extend((0..h).map(|j| plane[j * w + (w - 1 - i)]));
        }
    }
    Tensor::from_vec(n, c, w, h, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Tensor {
        let data = (0..2 * 3 * h * w).map(|v| v as f32).collect();
        Tensor::from_vec(2, 3, h, w, data)
    }

    #[test]
    fn every_orientation_is_undone_by_its_inverse() {
        let tensor = ramp(3, 5);
        for orientation in SelfEnsemble::FULL.orientations() {
            let turned = orientation.apply(&tensor);
            assert_eq!(
                orientation.inverse().apply(&turned),
                tensor,
                "{orientation:?}"
            );
        }
    }

    #[test]
    fn the_eight_orientations_are_distinct() {
        let tensor = ramp(3, 5);
        let turned: Vec<Tensor> = SelfEnsemble::FULL
            .orientations()
            .iter()
            .map(|o| o.apply(&tensor))
            .collect();
        for a in 0..turned.len() {
            for b in a + 1..turned.len() {
                assert_ne!(turned[a], turned[b], "orientations {a} and {b} agree");
            }
        }
    }

    #[test]
    fn a_quarter_turn_matches_numpy_rot90() {
        // numpy: np.rot90([[0, 1, 2], [3, 4, 5]]) == [[2, 5], [1, 4], [0, 3]]
        let tensor = Tensor::from_vec(1, 1, 2, 3, vec![0., 1., 2., 3., 4., 5.]);
        let turned = quarter_turn(&tensor);
        assert_eq!(turned.shape(), [1, 1, 3, 2]);
        assert_eq!(turned.data(), &[2., 5., 1., 4., 0., 3.]);
        assert_eq!(mirror(&tensor).data(), &[2., 1., 0., 5., 4., 3.]);
    }

    /// A predictor that is not symmetric: it adds the column index to every pixel, and counts
    /// its runs.
    struct ColumnRamp {
        runs: usize,
    }

    impl Predict for ColumnRamp {
        fn predict(&mut self, blurry: &Tensor) -> Result<Tensor> {
            self.runs += 1;
            let mut out = blurry.clone();
            let w = blurry.width();
            for row in out.data_mut().chunks_exact_mut(w) {
                row.iter_mut().enumerate().for_each(|(x, v)| *v += x as f32);
            }
            Ok(out)
        }
    }

    #[test]
    fn the_ensemble_averages_what_the_orientations_disagree_on() {
        let blurry = ramp(4, 6);
        let mut predictor = ColumnRamp { runs: 0 };
        let plain = predict(&mut predictor, &blurry, SelfEnsemble::OFF).unwrap();
        assert_eq!(predictor.runs, 1);
        assert_eq!(plain.data()[5] - blurry.data()[5], 5.0);

        // The frame and its mirror image: columns 0..5 and 5..0 added, a flat 2.5 everywhere.
        let mirrored = predict(&mut predictor, &blurry, SelfEnsemble::new(2).unwrap()).unwrap();
        assert_eq!(predictor.runs, 3);
        for (out, input) in mirrored.data().iter().zip(blurry.data()) {
            assert!((out - input - 2.5).abs() < 1e-5, "{out} - {input}");
        }

        // Quarter turns add rows instead of columns: 8 orientations give the mean of both, 2.5
        // from the columns and 1.5 from the rows.
        let full = predict(&mut predictor, &blurry, SelfEnsemble::FULL).unwrap();
        assert_eq!(predictor.runs, 11);
        assert_eq!(full.shape(), blurry.shape());
        for (out, input) in full.data().iter().zip(blurry.data()) {
            assert!((out - input - 2.0).abs() < 1e-5, "{out} - {input}");
        }
    }

    #[test]
    fn only_sizes_one_two_four_and_eight_exist() {
        for size in SelfEnsemble::SIZES {
            assert_eq!(SelfEnsemble::new(size).unwrap().size(), size);
            assert_eq!(
                SelfEnsemble::new(size).unwrap().orientations().len(),
                size as usize
            );
        }
        let error = SelfEnsemble::new(3).unwrap_err().to_string();
        assert!(error.contains("ensemble = 3"), "{error}");
        assert!(error.contains("1, 2, 4 or 8"), "{error}");
        assert!("x".parse::<SelfEnsemble>().is_err());
        assert_eq!("4".parse::<SelfEnsemble>().unwrap().size(), 4);
    }
}
