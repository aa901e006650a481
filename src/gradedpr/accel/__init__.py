"""Inference-only CPU acceleration: linear layers (with their bias and GELU) run through oneDNN while a model
encodes without gradients. Switched by the ``accel`` setting of the index / evaluate / train configs, recorded
in each run's config; never active while training (it has no backward)."""
