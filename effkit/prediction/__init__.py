"""Which number predicts speed: the proxy scoreboard, roofline prediction and calibration.

``roofline.py`` predicts a model's latency on a named device from its per-op FLOPs and bytes;
``calibrate.py`` fits per-device coefficients to stored measurements (non-negative least squares,
``nnls.py``) into a ``Calibration`` (``calibration.py``), which the results store keeps
(``effkit.store.calibrations``); ``proxies.py`` scores every proxy (params, FLOPs, MAC, activations,
predicted latency) against what was measured. For published throughput files, ``benchmark.py`` reads them,
``public.py`` joins them to effkit's features, ``benchfit.py`` fits rates per op kind (``opclasses.py``) and
``scoreboard.py`` reports its out-of-sample errors beside the baselines.
"""
