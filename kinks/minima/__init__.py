"""What gradient descent finds (``mc_minima.py``), built on the 1-D study: training to a stationary
point and the risk study (``stationary``), the two example networks (``examples``), one network's
Hessian and the loss along lines (``hessian``), the diagnose study (``landscape``), the trace study
(``trace``), their figures (``figures``) and the speed of the Hessian spectrum (``benchmarks``).
Imports the shared modules of ``kinks`` and ``kinks.mc``."""
