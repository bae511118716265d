"""Tensor-level schemes: one module per family.

Each class is registered in `keras_inits._registry`.
"""
