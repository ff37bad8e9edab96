//! A minimal NCHW `f32` tensor: what the models take and give, and what the sampler works on.

/// Dense NCHW float tensor stored row-major (`n`, then `c`, then `h`, then `w`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(n: usize, c: usize, h: usize, w: usize) -> Self {
        Tensor {
            n,
            c,
            h,
            w,
            data: vec![0.0; n * c * h * w],
        }
    }

    /// Wraps `data`; panics when its length is not `n * c * h * w` (a programming error).
    pub fn from_vec(n: usize, c: usize, h: usize, w: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            n * c * h * w,
            "tensor data length does not match shape {n}x{c}x{h}x{w}"
        );
        Tensor { n, c, h, w, data }
    }

    /// `[n, c, h, w]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.n
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.c
    }

    /// Height.
    pub fn height(&self) -> usize {
        self.h
    }

    /// Width.
    pub fn width(&self) -> usize {
        self.w
    }

    /// All elements.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// All elements, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The elements, consuming the tensor.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Elements of one batch item.
    pub fn item(&self, index: usize) -> &[f32] {
        let len = self.c * self.h * self.w;
        &self.data[index * len..(index + 1) * len]
    }

    /// Elements of one batch item, mutable.
    pub fn item_mut(&mut self, index: usize) -> &mut [f32] {
        let len = self.c * self.h * self.w;
        &mut self.data[index * len..(index + 1) * len]
    }

    /// This single-item tensor repeated `count` times along the batch axis.
    pub fn repeat_batch(&self, count: usize) -> Tensor {
        assert_eq!(self.n, 1, "repeat_batch needs a batch of one");
        Tensor {
            n: count,
            c: self.c,
            h: self.h,
            w: self.w,
            data: self.data.repeat(count),
        }
    }
}
