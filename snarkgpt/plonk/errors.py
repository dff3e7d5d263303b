"""The error raised by the circuit layer."""


class CircuitError(Exception):
    """A mistake in a circuit's configuration or witness assignment."""
