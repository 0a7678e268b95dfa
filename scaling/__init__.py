"""scaling: the training engine of the scaling-law suite (data, models, objectives, training, sweeps)."""
from scaling import _malloc

_malloc.apply()  # before jax allocates anything; see _malloc.py

__version__ = "0.1.0"
