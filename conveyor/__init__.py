"""Conveyor: an open generator for assembly-line (tensor streaming) dataflow cores."""

__version__ = "0.1.0"
