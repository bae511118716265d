"""Diagnostics and theory: they measure and predict what the schemes do to a network's signal."""

from keras_inits.diagnostics.propagation import PropagationReport, propagation_report

__all__ = ["PropagationReport", "propagation_report"]
