"""GPT models: configuration, weights, float and integer forwards, and the model circuit."""
from .config import BASE_CONFIG, TINY_CONFIG, GPTConfig

__all__ = ["GPTConfig", "BASE_CONFIG", "TINY_CONFIG"]
