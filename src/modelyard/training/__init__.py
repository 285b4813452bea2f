"""Training: datasets, document classifiers, MLflow tracking, runs and experiments."""
