"""Registered models: versions, input schemas, aliases and the safe loaders behind them."""
