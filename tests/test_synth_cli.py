"""``blurmap synth dp|local|video`` in-process: success paths and one-line errors."""

import json

import pytest

from blurmap.cli import main


def test_synth_local_and_dp_cli(tmp_path, capsys):
    assert main(["synth", "local", "--backgrounds", "bundled", "--objects", "bundled", "--out", str(tmp_path / "l"),
                 "--count", "1", "--size", "40x32", "--seed", "4"]) == 0  # fmt: skip
    assert (tmp_path / "l/blur/000000.png").exists()
    m = json.loads((tmp_path / "l/manifest.json").read_text())
    assert m["size_hw"] == [32, 40] and m["seed"] == 4
    assert main(["synth", "dp", "--images", "bundled", "--out", str(tmp_path / "d"), "--count", "1",
                 "--size", "40x32", "--max-coc", "4"]) == 0  # fmt: skip
    assert (tmp_path / "d/train_c/source/1P0A0000.png").exists()
    assert json.loads((tmp_path / "d/manifest.json").read_text())["config"]["max_coc"] == 4.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth", "dp", "--images", "bundled", "--count", "1", "--size", "40by32"], "--size must look like"),
        (["synth", "dp", "--images", "bundled", "--count", "1", "--size", "4x4"], "at least 8x8"),
        (["synth", "dp", "--images", "NOPE", "--count", "1"], "NOPE: image folder not found"),
        (["synth", "local", "--backgrounds", "bundled", "--objects", "NOVOC", "--count", "1"], "not a PASCAL VOC"),
        (["synth", "local", "--backgrounds", "bundled", "--objects", "bundled", "--count", "1", "--bits", "12"], "--bits"),
        (["synth", "video", "--count", "1"], "exactly one of --frames"),
    ],
)
def test_synth_cli_errors(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args + ["--out", "o"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("blurmap: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
    assert list(tmp_path.iterdir()) == []  # no temp folders either


def test_synth_cli_refuses_non_empty_out(tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o/mine.png").write_bytes(b"x")
    rc = main(["synth", "local", "--backgrounds", "bundled", "--objects", "bundled", "--out", str(tmp_path / "o"),
               "--count", "1", "--size", "16x16"])  # fmt: skip
    assert rc == 1 and "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "o/mine.png").read_bytes() == b"x"
