"""experiments/predictor_passes.py feeds each pass the previous pass's output, at the image's own
size: a frame that is not a multiple of 16 is padded for the network and cropped back."""

import numpy as np

from experiments.predictor_passes import passes


class Brighten:
    """A stand-in predictor: adds a constant in model space and records the shapes it was given."""

    pad = 16

    def __init__(self):
        self.shapes = []

    def predictor(self, y: np.ndarray) -> np.ndarray:
        self.shapes.append(y.shape)
        return y + 0.1


def test_each_pass_starts_from_the_previous_output():
    image = np.full((37, 45, 3), 100, np.uint8)
    net = Brighten()
    outputs = passes(net, image, 3)
    assert [o.shape for o in outputs] == [(37, 45, 3)] * 3
    # 0.1 in [-1, 1] is 12.75 levels, rounded after each pass: 112.75 -> 113, 125.75 -> 126, 138.75 -> 139.
    assert [int(o[0, 0, 0]) for o in outputs] == [113, 126, 139]
    assert net.shapes == [(1, 3, 48, 48)] * 3
