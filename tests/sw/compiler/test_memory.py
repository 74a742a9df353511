"""MEM placement: a tensor whose tiles fit no slice spreads over slices in blocks of rows, and
every consumer (a convolution's taps, relu, add, max pool, a product writing its output block
by block, the host reading it back) addresses it word by word, bit-exact in the predicted
cycles on the golden model (and on the RTL); placements round-trip through IR text and JSON;
a model that cannot fit names the tensor, the slice and what it needs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.sim import golden
from conveyor.sw.compiler import CompileError, compile_graph
from conveyor.sw.compiler.dialects import placed_attr, placed_from
from conveyor.sw.compiler.memory import Allocator, Placed
from conveyor.sw.frontends.specs import compile_spec
from conveyor.sw.ir.builder import Graph

#: small16's geometry with 128-word slices, so that small layers spread.
SHALLOW = dataclasses.replace(PRESETS["small16"], name="small16-128", mem_depth=128)


def _run(compiled):
    results = [golden.run(run.program) for run in compiled.runs]
    return sum(r.cycles for r in results), compiled.bit_exact([r.mem for r in results])


def _placements(compiled) -> dict[str, Placed]:
    run = compiled.runs[0]
    return {**{n: p for n, (p, _, _) in run.outputs.items()}, **run.inputs}


def _spread_network(rng):
    """A 13x13x8 image (169 rows: more than a 128-word slice), a 2x2 convolution to 12x12x16
    (144 rows), relu, the add of both (its operands' rows in different slices), a max pool."""
    g = Graph("spread")
    x = g.input("x", (13, 13, 8))
    c = g.conv2d(x, rng.integers(-128, 128, (2, 2, 8, 16), dtype=np.int8),
                 rng.integers(-3000, 3000, 16, dtype=np.int32), stride=1, pad=0,
                 mul=rng.integers(1 << 28, 1 << 30, 16).tolist(), shift=5, zp=-3)
    r = g.relu(c, zp=2)
    a = g.add(r, c, mul=1 << 30, shift=0, zp=1, relu=False)
    g.output("a", a)
    g.output("pooled", g.maxpool2x2(a))
    return g, {"x": rng.integers(-128, 128, (13, 13, 8), dtype=np.int8)}


def test_tensors_spread_over_slices_and_every_layer_reads_them():
    g, inputs = _spread_network(np.random.default_rng(0))
    compiled = compile_graph(g, inputs, SHALLOW)
    placed = _placements(compiled)
    assert placed["x"].more and placed["a"].more  # both spread
    for p in (placed["x"], placed["a"]):
        assert len({s for _, b in p.blocks() for s, _ in b.tiles[0]}) > 1
    cycles, exact = _run(compiled)
    assert exact and cycles == compiled.predicted_cycles


def test_an_int32_product_spreads_its_output_on_small16():
    """x fills four slices (1,000 of 1,024 words each) and the weights take 64 of a fifth:
    no four slices have 1,000 words left for the int32 output's planes, so it spreads."""
    compiled = compile_spec("matmul:M=1000,K=64,N=16", PRESETS["small16"], seed=0)
    y = _placements(compiled)["y"]
    assert y.more and sum(b.rows for _, b in y.blocks()) == 1000
    cycles, exact = _run(compiled)
    assert exact and cycles == compiled.predicted_cycles


def test_new_inputs_fill_a_spread_input():
    g, inputs = _spread_network(np.random.default_rng(1))
    compiled = compile_graph(g, inputs, SHALLOW)
    from conveyor.sw.ir.reference import evaluate
    x = np.random.default_rng(5).integers(-128, 128, (13, 13, 8), dtype=np.int8)
    mems = [golden.run(p).mem for p in compiled.programs_for({"x": x})]
    np.testing.assert_array_equal(compiled.outputs(mems)["a"], evaluate(g, {"x": x})["a"])


def test_a_spread_placement_round_trips_through_text_and_json():
    alloc = Allocator(SHALLOW)
    for s in alloc.next:  # leave every slice 100 words
        alloc.block(s, np.zeros((28, 16), np.int8), "filler")
    values = (np.arange(120 * 16, dtype=np.int32) * 77777).reshape(120, 16)
    p = alloc.place("t", (120, 16), "i32", values=values)
    assert p.more
    text = placed_attr(p)
    assert " | " in text
    assert placed_from("t", text, p.shape, "i32", p.rows) == p
    assert Placed.from_json(p.to_json()) == p
    mem = {s: np.zeros((SHALLOW.mem_depth, 16), np.int8) for s in alloc.next}
    for b in alloc.data:
        mem[b.slice][b.addr:b.addr + len(b.values)] = b.values
    np.testing.assert_array_equal(p.read(mem, 16), values)


def test_a_tensor_too_big_even_spread_names_what_fills_mem():
    alloc = Allocator(SHALLOW)
    alloc.place("image", (900, 16), "i8")
    with pytest.raises(CompileError) as e:
        alloc.place("big", (200, 16), "i8")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("tensor 'big' needs 200 words of MEM (200 rows x 1 tile), and "
                              "only 124 are left, even spread over slices")
    assert "holds 'image'" in message and "uses 900 of 1,024 words" in message


def test_per_channel_constants_keep_their_reserved_words():
    """Words reserved next to the VXM are not given to a tensor, even one that would fit."""
    alloc = Allocator(SHALLOW)
    side = ("mem3", "mem2", "mem1", "mem0")
    alloc.reserve(side, 2)
    for k in range(4):
        alloc.place(f"t{k}", (127, 16), "i8")
    assert all(alloc.next[s] == 0 for s in side)  # the four tensors went east
    p = alloc.place_planes("bias", np.arange(32, dtype=np.int32), side)
    assert [s for s, _ in p.tiles[0]] == list(side) and alloc.reserved["mem0"] == 0
