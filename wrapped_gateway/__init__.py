"""wrapped-gateway: generates Gateway listeners from the routes that attach to them."""

__version__ = "0.1.0"
