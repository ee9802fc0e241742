"""GradAtlas service: the HTTP API, the store and the contracts shared with the worker."""

__version__ = "0.1.0"
