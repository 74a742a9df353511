"""Graph-level passes: ``fuse-relu``, ``canonicalize`` and ``verify``, each rewrite one class."""

from __future__ import annotations

from dataclasses import dataclass

from .core import Module, Op
from .graph import (
    AddOp,
    Conv2dOp,
    DepthwiseConv2dOp,
    LinearOp,
    QAddOp,
    QMulOp,
    ReluOp,
    ReshapeOp,
)
from .passes import Pass, RewritePattern, Rewriter, apply_patterns

__all__ = [
    "Canonicalize",
    "EraseDeadOp",
    "FoldIdentityReshape",
    "FoldReluIntoProducer",
    "FoldReshapeChain",
    "FuseRelu",
    "Verify",
]


class FoldReluIntoProducer(RewritePattern):
    """``relu(linear|conv2d|add(...), zp)`` -> the producer with ``relu = true``, when the
    producer's zero point is the relu's and the relu is the producer's only user (other users
    must keep seeing the values below zp)."""

    OPS = (ReluOp.NAME,)

    def match_and_rewrite(self, op: Op, rewriter: Rewriter) -> bool:
        src = op.operands[0]
        producer = src.owner
        if not isinstance(producer, (LinearOp, Conv2dOp, DepthwiseConv2dOp, AddOp, QAddOp,
                                     QMulOp)):
            return False
        if producer.attrs["zp"] != op.attrs["zp"] or len(src.uses) != 1:
            return False
        producer.attrs["relu"] = True
        rewriter.replace_op(op, [src])
        return True


class FoldIdentityReshape(RewritePattern):
    """``reshape(x)`` to x's own shape -> x."""

    OPS = (ReshapeOp.NAME,)

    def match_and_rewrite(self, op: Op, rewriter: Rewriter) -> bool:
        x = op.operands[0]
        if x.type != op.results[0].type:
            return False
        rewriter.replace_op(op, [x])
        return True


class FoldReshapeChain(RewritePattern):
    """``reshape(reshape(x))`` -> ``reshape(x)`` (row-major reshapes compose)."""

    OPS = (ReshapeOp.NAME,)

    def match_and_rewrite(self, op: Op, rewriter: Rewriter) -> bool:
        inner = op.operands[0].owner
        if not isinstance(inner, ReshapeOp):
            return False
        op.set_operand(0, inner.operands[0])
        rewriter.changed = True
        return True


class EraseDeadOp(RewritePattern):
    """An op without effects whose results nobody uses -> nothing."""

    def match_and_rewrite(self, op: Op, rewriter: Rewriter) -> bool:
        if not op.PURE or any(r.uses for r in op.results):
            return False
        rewriter.erase_op(op)
        return True


@dataclass
class FuseRelu(Pass):
    """Fold each relu into the linear, conv2d or add that feeds it (same zero point, no other
    user): one requant.relu on the VXM instead of a requant and a max."""

    NAME = "fuse-relu"

    def run(self, module: Module) -> None:
        apply_patterns(module, [FoldReluIntoProducer()])


@dataclass
class Canonicalize(Pass):
    """Drop identity reshapes, merge reshape chains, erase unused pure ops."""

    NAME = "canonicalize"
    max_iterations: int = 16

    def run(self, module: Module) -> None:
        apply_patterns(module, [FoldIdentityReshape(), FoldReshapeChain(), EraseDeadOp()],
                       self.max_iterations)


@dataclass
class Verify(Pass):
    """Run the verifier (the pass manager does after every pass; this makes it explicit)."""

    NAME = "verify"

    def run(self, module: Module) -> None:
        module.verify()
