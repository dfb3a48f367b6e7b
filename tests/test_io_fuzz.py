"""Seeded mutation fuzzing of the readers: decoded or ImageReadError, nothing else, no stray lines.

A short fixed-seed campaign (a few seconds); ``benchmarks/fuzz_readers.py`` runs long ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from blurmap.bench import fuzz
from blurmap.errors import ImageReadError
from blurmap.io import read_image_bytes

ITERATIONS = 1000  # per format: 7000 mutants, a few seconds


def test_seeds_are_valid_files_of_each_format():
    seeds = fuzz.seed_files()
    assert tuple(seeds) == fuzz.FORMATS
    formats = {name: read_image_bytes(data, name) for name, data in seeds.items()}
    assert {name: (im.format, im.bits) for name, im in formats.items()} == {
        "png8": ("PNG", 8), "png16": ("PNG", 16), "jpeg": ("JPEG", 8), "tiff": ("TIFF", 8),
        "tiff-zlib": ("TIFF", 16), "webp": ("WEBP", 8), "bmp": ("BMP", 8),
    }
    assert formats["jpeg"].exif_orientation_applied == 6  # the orientation path is in the campaign


def test_mutants_are_seeded_and_differ_from_the_seed():
    data = fuzz.seed_files()["png16"]
    a = [fuzz.mutate(data, np.random.default_rng(7), fmt="png16") for _ in range(3)]
    b = [fuzz.mutate(data, np.random.default_rng(7), fmt="png16") for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(7)
    mutants = [fuzz.mutate(data, rng, fmt="png16") for _ in range(50)]
    assert sum(m != data for m in mutants) >= 45
    assert all(len(m) <= 2 * len(data) + 64 for m in mutants)


def test_fuzz_campaign_every_mutant_decoded_or_refused(capfd):
    report = fuzz.fuzz_readers(ITERATIONS, seed=20240601)
    assert report.findings == [] and report.breaches == 0
    assert report.total == ITERATIONS * len(fuzz.FORMATS)
    for fmt, counts in report.counts.items():
        # Both outcomes occur for every format, so the campaign reaches the decoders.
        assert counts["decoded"] > 0 and counts["refused"] > 0, (fmt, counts)
    # C decoders (libpng inside OpenCV, libjpeg, libwebp) printed nothing either.
    assert capfd.readouterr().err == ""


def test_campaign_reports_what_breaks_the_contract(monkeypatch):
    """The harness itself: an exception other than ImageReadError, an unnamed warning and a
    log line are each reported."""
    import logging
    import warnings

    import blurmap.io

    calls = {"n": 0}

    def flaky(data, name, *, max_pixels=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TypeError("int() argument must be ... not 'tuple'")
        if calls["n"] == 2:
            warnings.warn("Corrupt EXIF data", stacklevel=2)
        if calls["n"] == 3:
            logging.getLogger("tifffile").warning("missing data offset tag")
        raise ImageReadError(name, "refused")

    monkeypatch.setattr(blurmap.io, "read_image_bytes", flaky)
    report = fuzz.fuzz_readers(5, formats=("tiff",))
    problems = [f["problem"] for f in report.findings]
    assert problems == ["raised TypeError", "warning that names no file (UserWarning)", "log line from 'tifffile'"]
    assert report.counts["tiff"]["refused"] == 4


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown fuzz formats"):
        fuzz.fuzz_readers(1, formats=("gif",))
