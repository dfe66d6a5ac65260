"""The 1-D study (``mc_training.py``, ``mc_plotting.py``): how often gradient descent moves a kink
across a data point. The model and data (``data``), the optimizers and their minibatches
(``optimizers``), the theory and the certificate (``theory``), the compiled loops (``compiled``) and
the trainers around them (``engines``), the training loop and its stopping criteria (``training``),
a study's configuration and chunks (``study``) and how it is carried out (``runner``), the crossing
estimate and the references (``crossing``), the figures (``figures``), the whole study in one
document (``experiments``), the animation (``animation``) and the speed measurements
(``benchmarks``). Imports only the shared modules of ``kinks``."""
