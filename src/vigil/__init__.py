"""vigil: threat detection for web-server access logs."""

from vigil.errors import VigilError

__version__ = "0.1.0"

__all__ = ["VigilError", "__version__"]
