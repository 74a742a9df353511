"""`conveyor bench` as a command (sw/apps/cli.py, golden model only): JSON to -o, a Markdown
page only when --docs names one, one-line errors."""

import json
from pathlib import Path

from conveyor.sw.apps.bench import render_markdown
from conveyor.sw.apps.cli import main

ROOT = Path(__file__).resolve().parents[4]
SPEC = "matmul:M=16,K=16,N=16"
QUICKEST = ["bench", "--quick", "--no-rtl", "--spec", SPEC]


def test_the_command_golden_only(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code = main([*QUICKEST, "--boards", str(tmp_path), "-o", str(out_json), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = json.loads(out)
    assert printed == json.loads(out_json.read_text())
    assert printed["sweep"][0]["golden_cycles"] == printed["sweep"][0]["predicted_cycles"]
    code = main(["bench", "--no-rtl", "--spec", "matmul:M=0,K=1,N=1", "-o", str(out_json)])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and err.startswith("conveyor: error:")


def test_a_default_run_writes_no_docs(tmp_path, capsys, monkeypatch):
    page = ROOT / "docs" / "performance.md"
    before = page.stat().st_mtime_ns, page.read_bytes()
    monkeypatch.chdir(tmp_path)  # the default -o, build/bench.json, lands here
    code = main([*QUICKEST, "--boards", str(tmp_path / "none")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.rstrip().splitlines()[-1] == f"wrote {Path('build/bench.json')}"
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()] == [
        Path("build/bench.json")]
    assert (page.stat().st_mtime_ns, page.read_bytes()) == before


def test_docs_writes_the_page_it_names(tmp_path, capsys):
    out_json, page = tmp_path / "r.json", tmp_path / "docs" / "perf.md"
    code = main([*QUICKEST, "--boards", str(tmp_path), "-o", str(out_json), "--docs", str(page)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.rstrip().splitlines()[-1] == f"wrote {out_json}, {page}"
    assert page.read_text() == render_markdown(json.loads(out_json.read_text()))


def test_docs_naming_a_directory_is_refused_before_measuring(tmp_path, capsys):
    code = main([*QUICKEST, "-o", str(tmp_path / "r.json"), "--docs", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "is a directory" in err
    assert not (tmp_path / "r.json").exists()
