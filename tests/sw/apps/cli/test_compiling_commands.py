"""`conveyor compile` and `conveyor opt`: the checks a user meets first come first."""

import onnx
from onnx import TensorProto, helper

from conveyor.sw.apps.cli import main


def test_an_unsupported_op_is_named_before_calibration_is_asked_for(tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    graph = helper.make_graph([helper.make_node("Sin", ["x"], ["y"], name="prob")],
                              "g", [x], [y])
    path = tmp_path / "sin.onnx"
    onnx.save(helper.make_model(graph), path)
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "unsupported op Sin" in err and "calibration" not in err
    assert err.count("\n") == 1


def test_opt_refuses_to_retarget_a_scheduled_module(tmp_path, capsys):
    out = tmp_path / "mm"
    assert main(["compile", "matmul:M=4,K=4,N=4", "-c", "tiny", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["opt", str(out / "program.tile.mlir"), "-c", "small16"]) == 1
    err = capsys.readouterr().err
    assert "tile-level module for 'tiny'; it cannot be retargeted to 'small16'" in err
    # the graph level is not tied to a core: -c gives it one
    assert main(["opt", str(out / "program.graph.mlir"), "-c", "small16",
                 "--passes", "lower-to-tile"]) == 0
    assert 'target = {name = "small16"' in capsys.readouterr().out
