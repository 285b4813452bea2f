"""The client's version: always the server's it was released with."""

__version__ = "0.1.0"
