"""The compiler's user-facing error."""

from ...errors import ConveyorError

__all__ = ["CompileError", "TooBig"]


class CompileError(ConveyorError):
    """A model the compiler cannot place or schedule on the chosen config, with the reason
    (the tensor and the size it needs, the queue that overflows, the op it does not support)."""


class TooBig(CompileError):
    """A model that does not fit one program on the config (MEM, or an instruction queue):
    the compiler then cuts it into several runs. ``over`` is how many times too big it is,
    where that is known (else 0)."""

    def __init__(self, message: str, over: float = 0.0):
        super().__init__(message)
        self.over = over
