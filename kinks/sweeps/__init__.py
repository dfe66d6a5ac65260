"""The sweeps of optimizer x initialisation x parameterisation (``run_nn_setups.py``,
``eval_nn_setups.py``): the distributions and data sets (``data``), the networks, parameterisations,
biases and optimizers (``nets``), the grid of tasks, its result files and the step-size search
(``grid``), and the tables and figures (``report``). Imports only the shared modules of ``kinks``."""
