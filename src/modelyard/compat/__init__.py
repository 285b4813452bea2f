"""Compatibility faces: each source system's documented routes as thin adapters on the services."""
