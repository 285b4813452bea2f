"""Serving: the transport-free prediction core, the model cache and the request log."""
