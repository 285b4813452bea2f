"""Visualization: projections of a model version's training and production data.

Methods (umap-learn, openTSNE, TriMap, PCA) live behind ``methods``; quality metrics in
``metrics``; projections run as ``visualization.project`` jobs (``tasks``/``job``) and are read
through ``service``. The hydro-visualization routes are ``modelyard.compat.hydro_visualization``.
"""
