"""blurmap.files: atomic writes leave either the old file or the new one, and JSON without NaN/inf."""

import json
import math

import numpy as np
import pytest

from blurmap.errors import ImageWriteError
from blurmap.files import atomic_destination, json_safe, write_bytes_atomic, write_json_atomic


def test_json_safe_keeps_inf_as_text_and_nan_as_null_at_any_depth():
    value = {"a": [1.0, math.inf, (-math.inf, math.nan)], "b": {"c": np.float32(2.5), "d": np.int64(3)}, "e": "x"}
    assert json_safe(value) == {"a": [1.0, "inf", ["-inf", None]], "b": {"c": 2.5, "d": 3}, "e": "x"}
    assert isinstance(json_safe(np.float64(np.nan)), type(None))


def test_write_json_atomic_round_trips_and_respects_overwrite(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"psnr": math.inf, "rows": [1, 2]})
    assert json.loads(path.read_text()) == {"psnr": "inf", "rows": [1, 2]}
    with pytest.raises(ImageWriteError, match="already exists"):
        write_json_atomic(path, {}, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temp file left


def test_write_bytes_atomic_errors_name_the_file(tmp_path):
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_bytes_atomic(tmp_path / "missing" / "x.bin", b"1")
    with pytest.raises(ImageWriteError, match="is a folder"):
        write_bytes_atomic(tmp_path, b"1")


def test_atomic_destination_keeps_suffix_and_leaves_old_file_on_failure(tmp_path):
    dest = tmp_path / "map.npy"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_destination(dest) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".npy"
            tmp.write_bytes(b"half")
            raise RuntimeError("writer crashed")
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["map.npy"]
    with atomic_destination(dest) as tmp:
        np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(dest), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.npy"]
