import sys
from pathlib import Path

# Make `deblur_train` importable however pytest is invoked (repo root or training/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
