"""``blurmap bench speed|memory|synth`` and the table formatter (tiny sizes only)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from blurmap.bench import Column, format_table
from blurmap.bench.memory import megapixel_size
from blurmap.cli import main
from blurmap.cli.bench import split_list
from blurmap.errors import BlurmapError


def _cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def _table_rows(out: str, header: list[str]) -> list[list[str]]:
    """The data lines under the header line with these cells (and its dashes line), as cells."""
    lines = out.splitlines()
    start = [_cells(line) for line in lines].index(header) + 2
    assert set(lines[start - 1]) <= {"-", " "}
    rows = []
    for line in lines[start:]:
        if not line.strip() or line.startswith(("peak RSS =", "RSS-before =", "wrote ")):
            break
        rows.append(_cells(line))
    return rows


def _positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_format_table_hand_written():
    columns = [
        Column("name", "model", align="<"),
        Column("seconds", "time (s)", ".2f"),
        Column("n", "n", "d"),
        Column("rate", "rate", lambda r: f"{r['rate']:.1f} {r['unit']}", align="<"),
    ]
    rows = [
        {"name": "a", "seconds": 1.5, "n": 3, "rate": 2.25, "unit": "x/s"},
        {"name": "longname", "seconds": 12.345, "n": 10, "rate": 100.0, "unit": "x/s"},
        {"name": "bad", "error": "out of memory"},
    ]
    expected = (
        "note line\n"
        "model     time (s)   n  rate\n"
        "--------  --------  --  ---------\n"
        "a             1.50   3  2.2 x/s\n"
        "longname     12.35  10  100.0 x/s\n"
        "bad       failed: out of memory\n"
        "footer line"
    )
    assert format_table(rows, columns, notes=["note line"], footer=["footer line"]) == expected


def test_format_table_missing_value_is_a_dash():
    out = format_table([{"a": 1.0}], [Column("a", "a", ".1f"), Column("b", "b", ".1f")])
    assert out.splitlines()[-1] == "1.0  -"


def test_split_list_commas_and_repeats():
    assert split_list(["defocusgan,bladenet", "tiny_unet"], "--models") == ["defocusgan", "bladenet", "tiny_unet"]
    assert split_list(None, "--models") is None
    with pytest.raises(BlurmapError):
        split_list([","], "--models")


def test_megapixel_size_is_4_by_3():
    # hand-computed: w = round(sqrt(mp * 1e6 * 4 / 3)), h = round(mp * 1e6 / w); the docs' tables
    assert megapixel_size(2) == (1225, 1633)
    assert megapixel_size(24) == (4243, 5657)
    assert megapixel_size(0.01) == (87, 115)


def test_bench_speed_table_and_json(tmp_path, capsys):
    from blurmap.models import build_model

    out_json = tmp_path / "speed.json"
    argv = ["bench", "speed", "--models", "defocusgan", "--size", "64", "64", "--repeats", "1",
            "--precision", "fp32", "--json", str(out_json)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "input 1x3x64x64" in out
    header = ["model", "precision", "module", "params (M)", "time (s)", "cpu (s)", "peak (GB)", "threads"]
    (cells,) = _table_rows(out, header)
    assert cells[:3] == ["defocusgan", "fp32", "runner"]  # what blurmap deblur runs (no --raw)
    numbers = [float(c) for c in cells[3:]]
    assert all(math.isfinite(v) and v >= 0 for v in numbers)

    payload = json.loads(out_json.read_text())
    assert payload["table"] == "speed" and payload["size"] == [64, 64]
    (row,) = payload["rows"]
    # parameters counted in this process, independently of the child
    expected_m = sum(p.numel() for p in build_model("defocusgan").parameters()) / 1e6
    assert row["params_M"] == pytest.approx(expected_m)
    assert float(cells[3]) == pytest.approx(expected_m, abs=0.005)
    for key in ("seconds", "cpu_seconds", "threads"):
        assert _positive_finite(row[key]), (key, row[key])
    assert row["peak_GB"] >= 0 and math.isfinite(row["peak_GB"])  # tiny input: may add nothing
    assert float(cells[4]) == pytest.approx(row["seconds"], abs=0.005)


def test_bench_speed_raw_times_the_module_as_built(tmp_path, capsys):
    out_json = tmp_path / "speed.json"
    argv = ["bench", "speed", "--models", "bladenet", "--size", "32", "32", "--repeats", "1", "--precision", "fp32",
            "--raw", "--json", str(out_json)]
    assert main(argv) == 0
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["module"] == "raw" and _positive_finite(row["seconds"])


def test_bench_memory_table_and_json(tmp_path, capsys):
    out_json = tmp_path / "memory.json"
    assert main(["bench", "memory", "--megapixels", "0.01", "--model", "local", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("path: engine; model: bladenet")
    (cells,) = _table_rows(out, ["MP", "H x W", "tiles", "peak RSS MB", "RSS-before MB", "s", "cpu s", "s/MP"])
    assert cells[1] == "87 x 115" and cells[2] == "1"
    (row,) = json.loads(out_json.read_text())["rows"]
    assert (row["h"], row["w"], row["tiles"]) == (87, 115, 1)
    assert row["mp"] == pytest.approx(87 * 115 / 1e6)
    for key in ("peak_mb", "base_mb", "seconds", "cpu_seconds", "s_per_mp", "tile", "overlap", "threads"):
        assert _positive_finite(row[key]), (key, row[key])
    assert row["peak_mb"] >= row["base_mb"]
    assert row["s_per_mp"] == pytest.approx(row["seconds"] / row["mp"])
    assert float(cells[3]) == pytest.approx(row["peak_mb"], abs=0.5)


def test_bench_memory_cli_path_cleans_up(capsys):
    import tempfile
    from pathlib import Path

    def scratch():
        return set(Path(tempfile.gettempdir()).glob("blurmap_bench_memory_*"))

    before = scratch()
    assert main(["bench", "memory", "--megapixels", "0.005", "--model", "defocus", "--path", "cli"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("path: cli; model: defocusgan")
    (cells,) = _table_rows(out, ["MP", "H x W", "tiles", "peak RSS MB", "RSS-before MB", "s", "cpu s", "s/MP"])
    assert cells[1] == "61 x 82"  # megapixel_size(0.005)
    assert all(_positive_finite(float(c)) for c in cells[3:])
    assert scratch() <= before  # the 16-bit input PNG and the outputs are gone


def test_bench_synth_table_and_json(tmp_path, capsys):
    threads_before = torch.get_num_threads()
    out_json = tmp_path / "synth.json"
    argv = ["bench", "synth", "--size", "48", "48", "--repeats", "1", "--threads", "1", "--lbs-samples", "2",
            "--lbs-size", "64", "--json", str(out_json)]
    assert main(argv) == 0
    assert torch.get_num_threads() == threads_before  # the command restores the thread count
    out = capsys.readouterr().out
    table = _table_rows(out, ["case", "threads", "wall", "per CPU time", "target", "note"])
    assert [r[0] for r in table] == ["dp render 48x48, 32 layers", "dp render 48x48, default layers (<=1 px)"] * 2 + [
        "dp sample 48x48 (scene + render)", "lbs LocalBlurDataset 64x64", "dp procedural scene 48x48",
        "local procedural sample 64x64"]
    rows = json.loads(out_json.read_text())["rows"]
    assert len(rows) == 8
    assert [r["unit"] for r in rows] == ["s"] * 5 + ["samples/s"] * 3
    for row in rows:
        assert _positive_finite(row["wall"]) and _positive_finite(row["per_cpu"]), row
    assert rows[-1]["note"] == "2 samples"


def test_bench_speed_failed_child_is_one_row(tmp_path, capsys):
    # a discriminator's output is not image-shaped: its child fails, the table says so in one row
    out_json = tmp_path / "speed.json"
    argv = ["bench", "speed", "--models", "patchgan", "--size", "32", "32", "--repeats", "1", "--precision", "fp32",
            "--json", str(out_json)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    (cells,) = _table_rows(captured.out, ["model", "precision", "module", "params (M)", "time (s)", "cpu (s)",
                                          "peak (GB)", "threads"])
    assert cells[:3] == ["patchgan", "fp32", "runner"] and cells[3].startswith("failed: patchgan: output (1, 1,")
    assert captured.err.strip().splitlines()[-1] == "blurmap: error: 1 of 1 rows failed: patchgan fp32"
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["model"] == "patchgan" and "not the input's shape" in row["error"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "speed", "--models", "nope"], "unknown model 'nope'"),
        (["bench", "speed", "--size", "8", "64"], "--size must be at least 16"),
        (["bench", "speed", "--repeats", "-2"], "--repeats must be at least 1"),
        (["bench", "speed", "--precision", "fp16"], "unknown precision 'fp16'"),
        (["bench", "memory", "--model", "nope"], "unknown model 'nope'"),
        (["bench", "memory", "--megapixels", "0"], "--megapixels 0.0"),
        (["bench", "memory", "--megapixels", "two"], "--megapixels takes numbers"),
        (["bench", "synth", "--size", "15", "64"], "--size must be at least 16"),
        (["bench", "synth", "--repeats", "0"], "--repeats must be at least 1"),
    ],
)
def test_bench_bad_arguments_one_line(argv, message, capsys):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blurmap: error: ") and message in lines[0], lines


def test_bench_json_never_overwrites(tmp_path, capsys):
    target = tmp_path / "rows.json"
    target.write_text("keep me")
    assert main(["bench", "synth", "--json", str(target)]) == 1  # refused before measuring
    assert target.read_text() == "keep me"
    assert "already exists" in capsys.readouterr().err
    missing = tmp_path / "no_such_folder" / "rows.json"
    assert main(["bench", "synth", "--json", str(missing)]) == 1  # also refused before measuring
    captured = capsys.readouterr()
    assert captured.out == "" and "does not exist" in captured.err


def test_bench_memory_cli_path_needs_the_entry_point_from_its_caller():
    from blurmap.bench import memory_rows

    with pytest.raises(BlurmapError, match="cli_entry"):
        memory_rows([0.005], "defocus", path="cli")
