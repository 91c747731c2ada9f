"""Which number predicts speed: the proxy scoreboard, roofline prediction and calibration.

``roofline.py`` predicts a model's latency on a named device from its per-op FLOPs and bytes;
``calibrate.py`` fits per-device coefficients to stored measurements (non-negative least squares) and
keeps them in the results store; ``proxies.py`` scores every proxy (params, FLOPs, MAC, activations,
predicted latency) against what was measured.
"""
