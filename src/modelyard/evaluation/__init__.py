"""Evaluation: confusion matrices, compare, multi-label, ROC/PR curves, reports and plots.

PyCM and matplotlib are imported here only, behind ``pycm_adapter`` and ``plots``.
"""
