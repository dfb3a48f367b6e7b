"""blurmap demo: page structure, relative links, replacing a previous demo, refusing other folders."""

import re
from functools import partial

import pytest

from blurmap.cli import main
from blurmap.demo import Section, build_demo, dual_pixel_section, local_blur_section
from blurmap.errors import BlurmapError

SMALL = [
    partial(dual_pixel_section, photos=("chelsea",), size=(40, 60), max_coc=4.0),
    partial(local_blur_section, count=1, size=(40, 60)),
]


def test_demo_page_with_figures(tmp_path):
    index = build_demo(tmp_path / "demo", sections=SMALL)
    page = index.read_text()
    assert "Dual-pixel defocus" in page and "Local motion blur" in page
    links = re.findall(r'src="([^"]+)"', page)
    assert len(links) == 2
    for link in links:
        assert not link.startswith("/") and link.startswith("figures/")
        assert (index.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a previous demo is replaced; a custom section can be added
    extra = lambda ctx: Section("Extra", "<p>hello</p>")  # noqa: E731
    index2 = build_demo(tmp_path / "demo", sections=SMALL[1:] + [extra])
    page2 = index2.read_text()
    assert "<h2>Extra</h2>" in page2 and "Dual-pixel" not in page2
    assert len(list((tmp_path / "demo/figures").iterdir())) == 1


def test_demo_refuses_foreign_folder(tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("mine")
    with pytest.raises(BlurmapError, match="no previous demo"):
        build_demo(d, sections=[])
    assert main(["demo", "-o", str(d)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (d / "thesis.tex").read_text() == "mine"
    build_demo(d, sections=[], overwrite=True)
    assert sorted(p.name for p in d.iterdir()) == ["index.html"]
