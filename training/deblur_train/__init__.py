"""Training pipeline for deblur: predict-and-refine conditional diffusion (Whang et al., CVPR 2022).

Modules that need only numpy/scipy (safe for CI without torch): degrade, data, schedule, metrics,
sampling. Modules that need torch: models, train, export.
"""

from pathlib import Path

# training/: where data/ and runs/ live by default.
TRAINING_ROOT = Path(__file__).resolve().parents[1]
