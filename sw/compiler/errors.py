"""The compiler's user-facing error."""

from ...errors import ConveyorError

__all__ = ["CompileError"]


class CompileError(ConveyorError):
    """A model the compiler cannot place or schedule on the chosen config, with the reason
    (the tensor and the size it needs, the queue that overflows, the op it does not support)."""
