"""Quantization policies shipped with fxsim (``fxsim policies`` lists them)."""
