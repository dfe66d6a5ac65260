"""kinks: Monte Carlo studies of training two-layer ReLU networks (Holzmueller & Steinwart 2022).

The seven scripts in the repository root are thin command lines over these modules; see
docs/architecture.md for what each module owns and how a study flows through them.
"""
