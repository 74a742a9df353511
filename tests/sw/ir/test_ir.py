"""The IR core: types, the op registry, printing and parsing (round trips), errors with places,
the pass pipeline and the pass manager."""

from __future__ import annotations

import gc
import io
import time
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ConveyorError
from conveyor.sw.ir import (
    OPS,
    PASSES,
    IRError,
    Module,
    Op,
    Pass,
    PassManager,
    TensorType,
    Value,
    parse_module,
    parse_pipeline,
    print_attr,
    print_module,
)
from conveyor.sw.ir.builder import Graph
from conveyor.sw.ir.graph import ReluOp

# --- a small test dialect: defining the classes is all it takes -------------------------------

class PairOp(Op):
    """Two results, variadic operands, every attribute kind."""

    NAME = "testdialect.pair"
    OPERANDS = None
    RESULTS = ("lo", "hi")
    ATTRS = {"n": int, "flag": bool, "tag": str, "dims": "ints", "data": np.ndarray}  # noqa: RUF012


class SinkOp(Op):
    NAME = "testdialect.sink"
    OPERANDS = None


def test_error_is_a_conveyor_error():
    assert issubclass(IRError, ConveyorError)
    e = IRError("bad", "f.mlir", 3, 7)
    assert str(e) == "f.mlir:3:7: bad" and (e.line, e.col, e.message) == (3, 7, "bad")


def test_tensor_type():
    t = TensorType((64, 64), "i8")
    assert str(t) == "tensor<64x64xi8>" and t.size == 4096 and t.rank == 2
    assert t == TensorType([64, 64], "i8") and hash(t) == hash(TensorType((64, 64), "i8"))
    assert t != TensorType((64, 64), "i32")
    assert str(TensorType((), "i32")) == "tensor<i32>"
    assert TensorType.parse_body("3x1x7xi32") == TensorType((3, 1, 7), "i32")
    assert TensorType.of(np.zeros((2, 5), np.int32)) == TensorType((2, 5), "i32")
    with pytest.raises(IRError, match="unknown element type 'i9'"):
        TensorType((2,), "i9")
    with pytest.raises(IRError, match="at least 1"):
        TensorType((2, 0), "i8")


def test_registry_and_slots():
    assert OPS["testdialect.pair"] is PairOp and OPS["graph.relu"] is ReluOp
    with pytest.raises(TypeError, match="defined twice"):
        type("Again", (Op,), {"NAME": "testdialect.pair"})
    with pytest.raises(TypeError, match="dialect.name"):
        type("NoDot", (Op,), {"NAME": "nodot"})
    x = Value("x", TensorType((4,), "i8"))
    op = ReluOp([x], [Value("r", TensorType((4,), "i8"))], {"zp": 3})
    assert op.x is x and op.result.name == "r" and op.zp == 3 and x.uses == [op]


def _pair_module() -> Module:
    t = TensorType((2, 3), "i8")
    src = PairOp([], [Value("a", t), Value("b", TensorType((1,), "i32"))],
                 {"n": -5, "flag": True, "tag": 'quote " and \\ and ünï', "dims": [1, -2, 3],
                  "data": np.arange(-3, 3, dtype=np.int16).reshape(2, 3)})
    sink = SinkOp([src.results[0], src.results[1], src.results[0]], [], {})
    return Module("t", "test", [src, sink])


def test_generic_round_trip_of_every_attribute_kind():
    m = _pair_module()
    text = print_module(m)
    assert 'dense<"0xFDFFFEFFFFFF000001000200"> : tensor<2x3xi16>' in text
    assert "%a, %b = testdialect.pair {n = -5, flag = true" in text
    assert "testdialect.sink %a, %b, %a\n" in text
    back = parse_module(text)
    assert print_module(back) == text and back.level == "test"
    data = back.ops[0].attrs["data"]
    assert data.dtype == np.int16 and data.tolist() == [[-3, -2, -1], [0, 1, 2]]
    assert back.ops[0].attrs["tag"] == 'quote " and \\ and ünï'
    assert back.ops[0].results[0].uses == [back.ops[1], back.ops[1]]


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.float32,
                                   np.float64, np.bool_])
def test_dense_of_every_dtype(dtype):
    a = (np.arange(6).reshape(3, 2) * 37 - 50).astype(dtype)
    m = _pair_module()
    m.ops[0].attrs["data"] = a
    back = parse_module(print_module(m)).ops[0].attrs["data"]
    assert back.dtype == a.dtype and np.array_equal(back, a)


def test_attribute_text():
    assert print_attr(True) == "true" and print_attr(-7) == "-7" and print_attr([]) == "[]"
    assert print_attr(["a", 1]) == '["a", 1]'


def test_operands_on_the_next_line_belong_to_the_next_op():
    text = """module @m attributes {level = "test"} {
      testdialect.sink
      %a, %b = testdialect.pair {n = 0, flag = false, tag = "", dims = [],
        data = dense<"0x01"> : tensor<1xi8>} : tensor<1xi8>, tensor<1xi8>
      testdialect.sink %a, %b
    }"""
    m = parse_module(text)
    assert [len(op.operands) for op in m.ops] == [0, 0, 2]


@pytest.mark.parametrize("text, place, message", [
    ("", "1:1", "expected 'module', found end of input"),
    ("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xi8>\n}\n}", "4:1",
     "expected end of input after the module, found '}'"),
    ("module @m {\n  %x = graph.input {name = \"x\" : tensor<4xi8>\n}", "2:32",
     "expected ',' or '}' in the attribute list, found ':'"),
    ("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xi8>\n  #\n}", "3:3",
     "expected an op name, found '#'"),
    ("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xq>\n}", "2:35",
     ("unknown element type 'q' (known: i8, i16, i32, i64, ui8, ui16, ui32, ui64, f32, f64, "
     "i1)")),
    ("module @m {\n  %x = graph.input {name = \"x\"} : vector<4xi8>\n}", "2:35",
     "unknown type 'vector<...>'"),
    ("module @m {\n  %c = graph.const {value = dense<\"0x0G\"> : tensor<1xi8>} : tensor<1xi8>\n}",
     "2:29", "dense hex data has a non-hex digit"),
    ("module @m {\n  %c = graph.const {value = dense<300> : tensor<1xi8>} : tensor<1xi8>\n}",
     "2:29", "dense data has values that do not fit i8"),
    ("module @m {\n  %x = graph.input {name = \"x\", name = \"y\"} : tensor<4xi8>\n}", "2:33",
     "attribute 'name' is given twice"),
    (("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xi8>\n"
     "  %r = graph.relu %x {zp = 0, bogus = 1} : tensor<4xi8>\n}"), "3:8",
     "graph.relu %r: unknown attribute 'bogus' (known: zp)"),
    (("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xi8>\n"
     "  %r = graph.relu %x {zp = \"0\"} : tensor<4xi8>\n}"), "3:8",
     "graph.relu %r: attribute 'zp' must be an int, not '0'"),
    (("module @m {\n  %x = graph.input {name = \"x\"} : tensor<4xi8>\n"
     "  %r = graph.relu %x, %x {zp = 0} : tensor<4xi8>\n}"), "3:8",
     "graph.relu %r: takes 1 operands (x), not 2"),
])
def test_parse_errors_have_places(text, place, message):
    with pytest.raises(IRError) as info:
        parse_module(text, "in.mlir")
    assert str(info.value) == f"in.mlir:{place}: {message}"


def test_verifier_errors_without_a_place():
    g = Graph("g")
    x = g.input("x", (4,))
    r = g.relu(x)
    r.type = TensorType((5,), "i8")
    with pytest.raises(IRError) as info:
        g.verify()
    assert str(info.value) == ("graph.relu %relu0: result type is tensor<5xi8> but the "
                               "operands give tensor<4xi8>")


def test_module_verifier_checks_ssa_order():
    g = Graph("g")
    x = g.input("x", (4,))
    g.relu(x)
    g.ops.reverse()
    with pytest.raises(IRError, match="graph.relu %relu0: operand %x is not defined before"):
        g.verify()


# --- round trips of random graphs -------------------------------------------------------------

@st.composite
def graphs(draw) -> Graph:
    """Random graph-level modules: every op kind, random shapes and attributes."""
    g = Graph(draw(st.sampled_from(["m", "model.v2", "with space"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    i8 = {}  # value -> (kind: "2d" or "3d")

    def requant(n):
        per = draw(st.booleans())
        mul = [int(v) for v in rng.integers(0, 2**31, n)] if per else int(rng.integers(0, 2**31))
        return {"mul": mul, "shift": draw(st.integers(0, 31)),
                "zp": draw(st.integers(-128, 127)), "relu": draw(st.booleans())}

    m, k = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    x = g.input("x", (m, k))
    img = g.input("img", (2 * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 3)),
                          draw(st.integers(1, 3))))
    i8[x], i8[img] = "2d", "3d"
    for _ in range(draw(st.integers(1, 8))):
        v = draw(st.sampled_from(list(i8)))
        t = v.type
        kind = draw(st.sampled_from(["linear", "matmul", "relu", "add", "reshape", "conv",
                                     "pool"]))
        if kind in ("linear", "matmul") and i8[v] == "2d":
            n = draw(st.integers(1, 5))
            w = rng.integers(-128, 128, (t.shape[1], n), dtype=np.int8)
            if kind == "matmul":
                y = g.matmul(v, w)
                g.output(f"acc{len(g.ops)}", y)
                continue
            y = g.linear(v, w, rng.integers(-2**31, 2**31, n, dtype=np.int32), **requant(n))
            i8[y] = "2d"
        elif kind == "relu":
            i8[g.relu(v, zp=draw(st.integers(-128, 127)))] = i8[v]
        elif kind == "add":
            i8[g.add(v, v, **requant(t.shape[-1]))] = i8[v]
        elif kind == "reshape":
            i8[g.reshape(v, (t.size // t.shape[-1], t.shape[-1]))] = "2d"
        elif kind in ("conv", "pool") and i8[v] == "3d":
            if kind == "pool" and t.shape[0] % 2 == 0 and t.shape[1] % 2 == 0:
                i8[g.maxpool2x2(v)] = "3d"
                continue
            pad, kk = draw(st.integers(0, 1)), draw(st.integers(1, 4))
            r = draw(st.integers(1, min(3, t.shape[0] + 2 * pad)))
            s = draw(st.integers(1, min(3, t.shape[1] + 2 * pad)))
            y = g.conv2d(v, rng.integers(-128, 128, (r, s, t.shape[2], kk), dtype=np.int8),
                         None, stride=draw(st.integers(1, 2)), pad=pad, **requant(kk))
            if y.type.shape[0] % 2 == 0 and y.type.shape[1] % 2 == 0:
                i8[y] = "3d"
    g.output("y", draw(st.sampled_from(list(i8))))
    return g


@settings(max_examples=40)
@given(graphs())
def test_print_parse_round_trip(g):
    text = print_module(g)
    back = parse_module(text)
    assert print_module(back) == text
    assert [op.NAME for op in back.ops] == [op.NAME for op in g.ops]
    for a, b in zip(g.ops, back.ops):
        assert [r.type for r in a.results] == [r.type for r in b.results]
        for key, value in a.attrs.items():
            if isinstance(value, np.ndarray):
                assert b.attrs[key].dtype == value.dtype
                assert np.array_equal(b.attrs[key], value)
            else:
                assert b.attrs[key] == value


def _chain(n: int) -> Graph:
    g = Graph("big")
    v = g.input("x", (16, 16))
    w = g.const(np.ones((16, 16), np.int8))
    b = g.const(np.zeros(16, np.int32))
    for _ in range(n):
        v = g.linear(v, w, b, mul=1 << 30, shift=4)
    g.output("y", v)
    return g


def _print_parse_cpu(g: Graph) -> float:
    """The least CPU time of three print + parse round trips, the garbage collector off: what
    it costs depends on every object the process holds (late in the whole suite, many)."""
    spent = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            start = time.process_time()
            parse_module(print_module(g))
            spent.append(time.process_time() - start)
    finally:
        gc.enable()
    return min(spent)


def test_ten_thousand_ops_print_and_parse_quickly():
    """Linear in the ops: 10x the ops costs about 10x the CPU (12x measured alone), not 100x.
    (An absolute bound failed late in the whole suite, where the same work took 3.8 s of CPU
    instead of 0.5 s.)"""
    big = _chain(10_000)
    text = print_module(big)
    back = parse_module(text)
    assert len(back.ops) == 10_004 and print_module(back) == text
    small, large = _print_parse_cpu(_chain(1_000)), _print_parse_cpu(big)
    assert large < 40 * small, f"1k ops: {small:.3f} s, 10k ops: {large:.3f} s of CPU"
    assert large < 20.0, f"print + parse of 10k ops took {large:.2f} s of CPU"


# --- passes -----------------------------------------------------------------------------------

@dataclass
class _BreakShapes(Pass):
    """A wrong pass, for the pass manager to catch."""

    NAME = "test-break-shapes"
    by: int = 1
    loud: bool = False

    def run(self, module: Module) -> None:
        for op in module.ops:
            if op.NAME == "graph.relu":
                t = op.results[0].type
                op.results[0].type = TensorType((t.shape[0] + self.by,), t.dtype)


def test_pipeline_text():
    passes = parse_pipeline(" fuse-relu , test-break-shapes{by=3 loud=true},canonicalize")
    assert [p.NAME for p in passes] == ["fuse-relu", "test-break-shapes", "canonicalize"]
    assert passes[1].by == 3 and passes[1].loud is True
    assert str(passes[1]) == "test-break-shapes{by=3 loud=true}"
    assert parse_pipeline("") == []
    assert {"fuse-relu", "canonicalize", "verify"} <= set(PASSES)


@pytest.mark.parametrize("text, message", [
    ("fuse-relux", "unknown pass 'fuse-relux'"),
    ("test-break-shapes{size=3}", ("pass 'test-break-shapes': bad option 'size=3' "
                                  "(options: by, loud)")),
    ("test-break-shapes{by=x}", "option by must be an integer, not 'x'"),
    ("test-break-shapes{loud=maybe}", "option loud must be true or false"),
    ("fuse-relu;canonicalize", "bad pass pipeline"),
])
def test_pipeline_errors(text, message):
    with pytest.raises(IRError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_pipeline(text)


def test_pass_manager_verifies_after_each_pass_and_dumps():
    g = Graph("g")
    g.output("y", g.relu(g.relu(g.input("x", (4,)))))
    dump = io.StringIO()
    PassManager(parse_pipeline("canonicalize,verify"), print_ir_after_all=dump).run(g)
    text = dump.getvalue()
    assert text.startswith("// -----// IR Dump After canonicalize //----- //\nmodule @g ")
    assert "// -----// IR Dump After verify //----- //\nmodule @g " in text
    with pytest.raises(IRError, match="after pass 'test-break-shapes': graph.relu %relu0: "
                                      "result type is tensor<5xi8>"):
        PassManager([_BreakShapes()]).run(g)


def test_clone_and_use_lists():
    g = Graph("g")
    x = g.input("x", (4,))
    r = g.relu(g.relu(x))
    g.output("y", r)
    c = g.clone()
    assert print_module(c) == print_module(g) and c.ops[1] is not g.ops[1]
    cx = c.ops[0].results[0]
    assert cx.uses == [c.ops[1]] and cx is not x
    x.replace_all_uses_with(x)
    assert x.uses == [g.ops[1]]
    inner = g.ops[1].results[0]
    inner.replace_all_uses_with(x)
    assert inner.uses == [] and x.uses == [g.ops[1], g.ops[2]] and g.ops[2].x is x
    g.erase([g.ops[1]])
    g.verify()
    assert [op.NAME for op in g.ops] == ["graph.input", "graph.relu", "graph.output"]
    with pytest.raises(IRError, match="cannot erase: %x is still used by graph.relu"):
        g.erase([g.ops[0]])


def test_value_names_must_be_printable():
    g = Graph("g")
    g.relu(g.input("x", (4,))).name = "a b"
    with pytest.raises(IRError, match="value name 'a b' must be letters"):
        g.verify()


def test_opt_command_in_process(tmp_path, capsys):
    from conveyor.sw.apps.cli import main
    g = Graph("g")
    g.output("y", g.relu(g.reshape(g.input("x", (2, 3)), (2, 3))))
    src, out = tmp_path / "in.mlir", tmp_path / "out.mlir"
    src.write_text(print_module(g))
    assert main(["opt", str(src), "--passes", "canonicalize", "-o", str(out)]) == 0
    assert "graph.reshape" not in out.read_text() and parse_module(out.read_text()).ops
    src.write_text(print_module(g).replace("graph.relu", "graph.rel"))
    assert main(["opt", str(src)]) == 1
    assert capsys.readouterr().err == f"conveyor: error: {src}:4:12: unknown op 'graph.rel'\n"
    assert main(["opt", str(tmp_path / "none.mlir")]) == 1
    assert "none.mlir: no such file" in capsys.readouterr().err
