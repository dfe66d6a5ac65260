"""The star study (Section 7; ``train_star_dataset.py``, ``eval_star_dataset.py``): 2-D and d-axes
data sets and their linear-regression thresholds (``data``), the configuration and presets
(``config``), the networks, step rules and epochs (``networks``), the training state and its files
(``state``), training one configuration (``training``), the report (``report``) and the animation
(``animation``). Imports only the shared modules of ``kinks``."""
