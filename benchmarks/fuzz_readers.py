"""Long mutation-fuzzing campaigns of the image readers (the suite runs a short one).

Thin wrapper around :mod:`blurmap.bench.fuzz`: for each seed, ``--iterations`` mutants of each
format (PNG 8/16-bit, JPEG, TIFF plain and zlib, WebP, BMP) are decoded in memory. Every mutant
must decode to a valid image or be refused with ``ImageReadError``; any other exception, a
warning that names no file or a log line is a finding. The script also watches the process's
own stderr (file descriptor 2), where C decoders such as libpng print, and counts those lines.

Exit status 1 when anything was found.

    .venv/bin/python benchmarks/fuzz_readers.py [--iterations 5000] [--seeds 0,1,2] [--formats png16,tiff]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from blurmap.bench.fuzz import FORMATS, fuzz_readers


def _campaign_with_stderr(iterations: int, seed: int, formats: tuple[str, ...]):
    """Run one campaign with fd 2 sent to a temp file; returns (report, stderr lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            report = fuzz_readers(iterations, seed=seed, formats=formats, max_findings=20)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = [line for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return report, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="mutants per format and seed")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated campaign seeds")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"subset of {','.join(FORMATS)}")
    args = parser.parse_args(argv)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    found = 0
    print(f"{'seed':>6}  {'format':<10} {'decoded':>8} {'refused':>8}")
    for seed in seeds:
        report, stray = _campaign_with_stderr(args.iterations, seed, formats)
        for fmt, counts in report.counts.items():
            print(f"{seed:>6}  {fmt:<10} {counts['decoded']:>8} {counts['refused']:>8}")
        print(f"seed {seed}: {report.total} mutants in {report.seconds:.1f} s, "
              f"{report.breaches} contract breaches, {len(stray)} stray stderr lines")
        for finding in report.findings:
            print(f"  {finding['format']} case {finding['case']}: {finding['problem']}: {finding['detail']}")
        for line in stray[:10]:
            print(f"  stderr: {line}")
        found += report.breaches + len(stray)
    print("no findings" if not found else f"{found} findings")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
