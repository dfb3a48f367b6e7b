"""PASCAL VOC 2012 object bank on a fixture in the real layout (palette PNGs, 255 void borders)."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from blurmap.data.voc import VOCObjects, find_voc_root, instance_alpha, read_label_png
from blurmap.errors import BlurmapError, ImageReadError


def _palette():
    # VOC's colour map (bit-interleaved); only its existence matters: labels are the indices.
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _save_palette(path, labels):
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(_palette())
    im.save(path)


def _with_void(labels):
    """Add VOC's void band: 255 on a 2-px ring around each instance's outline."""
    out = labels.copy()
    for k in np.unique(labels):
        if k == 0:
            continue
        m = labels == k
        ring = ndimage.binary_dilation(m, iterations=2) & ~ndimage.binary_erosion(m, iterations=1)
        out[ring] = 255
    return out


def make_voc(root, n_images=2):
    voc = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationObject", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / d).mkdir(parents=True)
    rng = np.random.default_rng(0)
    ids = []
    for i in range(n_images):
        iid = f"2007_{i:06d}"
        ids.append(iid)
        H, W = 60, 80
        rgb = (rng.random((H, W, 3)) * 255).astype(np.uint8)
        Image.fromarray(rgb).save(voc / "JPEGImages" / f"{iid}.jpg", quality=95)
        inst = np.zeros((H, W), np.uint8)
        inst[10:40, 8:38] = 1  # 900 px
        inst[20:50, 45:75] = 2  # 900 px
        inst[52:56, 2:6] = 3  # 16 px (below min_area)
        cls = np.zeros_like(inst)
        cls[inst == 1] = 15  # person
        cls[inst == 2] = 8  # cat
        cls[inst == 3] = 7
        _save_palette(voc / "SegmentationObject" / f"{iid}.png", _with_void(inst))
        _save_palette(voc / "SegmentationClass" / f"{iid}.png", _with_void(cls))
    (voc / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids) + "\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text(ids[0] + "\n")
    return root


def test_find_root_accepts_three_levels(tmp_path):
    make_voc(tmp_path)
    want = tmp_path / "VOCdevkit" / "VOC2012"
    for p in (tmp_path, tmp_path / "VOCdevkit", want):
        assert find_voc_root(p) == want
    with pytest.raises(BlurmapError, match="not a PASCAL VOC"):
        find_voc_root(tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages")


def test_label_png_gives_palette_indices(tmp_path):
    make_voc(tmp_path, 1)
    lab = read_label_png(tmp_path / "VOCdevkit/VOC2012/SegmentationObject/2007_000000.png")
    assert lab.dtype == np.uint8
    assert set(np.unique(lab).tolist()) == {0, 1, 2, 3, 255}
    # not the RGB colours: instance 1 of the VOC palette is (128, 0, 0)
    assert lab[25, 20] == 1


def test_label_png_rejects_rgb_and_corrupt(tmp_path):
    p = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(p)
    with pytest.raises(ImageReadError, match="palette"):
        read_label_png(p)
    q = tmp_path / "bad.png"
    q.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageReadError, match="bad.png"):
        read_label_png(q)


def test_instance_alpha_void_is_half_near_instance():
    lab = np.zeros((20, 30), np.uint8)
    lab[5:15, 5:12] = 1
    lab[5:15, 18:25] = 2
    lab = _with_void(lab)
    a = instance_alpha(lab, 1)
    assert a[10, 8] == 1.0  # core
    assert a[10, 21] == 0.0  # other instance
    assert a[0, 0] == 0.0  # background
    void = lab == 255
    core1 = lab == 1
    bgnd = lab == 0
    # void touching instance 1 (and not the background) -> 0.5 (nearest labelled pixel is it)
    touch1 = ndimage.binary_dilation(core1) & void & ~ndimage.binary_dilation(bgnd)
    assert touch1.any() and np.all(a[touch1] == 0.5)
    # void touching only the background -> 0 (nearest labelled pixel is background)
    touch0 = ndimage.binary_dilation(bgnd) & void & ~ndimage.binary_dilation(core1)
    assert touch0.any() and np.all(a[touch0] == 0.0)
    # nothing around instance 2 belongs to instance 1
    assert np.all(a[:, 16:] == 0.0)


def test_voc_objects_cutouts(tmp_path):
    make_voc(tmp_path, 2)
    bank = VOCObjects(tmp_path, split="train", min_area=100)
    assert len(bank) == 2
    cuts = bank.cutouts(0)
    assert sorted(c.name for c in cuts) == ["2007_000000#1:person", "2007_000000#2:cat"]
    for c in cuts:
        assert c.rgb.dtype == np.float32 and c.alpha.dtype == np.float32
        assert c.rgb.shape[:2] == c.alpha.shape
        assert set(np.unique(c.alpha).tolist()) <= {0.0, 0.5, 1.0}
        # the crop holds the 30x30 core plus part of the void ring and a 1 px margin
        assert 30 <= c.alpha.shape[0] <= 36 and 30 <= c.alpha.shape[1] <= 36
        assert (c.alpha == 1).sum() == 30 * 30 - (4 * 30 - 4)  # the ring eats the core's outline
    assert len(VOCObjects(tmp_path, split="val")) == 1
    small = VOCObjects(tmp_path, split="train", min_area=1)
    assert len(small.cutouts(1)) == 3
    c = bank.random_cutout(np.random.default_rng(0))
    assert c.name.startswith("2007_")


def test_voc_errors(tmp_path):
    with pytest.raises(BlurmapError, match="not a PASCAL VOC"):
        VOCObjects(tmp_path)
    make_voc(tmp_path, 1)
    with pytest.raises(BlurmapError, match="no object instance"):
        VOCObjects(tmp_path, split="train", min_area=10**6).random_cutout(np.random.default_rng(0), tries=3)
    (tmp_path / "VOCdevkit/VOC2012/ImageSets/Segmentation/empty.txt").write_text("\n")
    with pytest.raises(BlurmapError, match="no segmented images"):
        VOCObjects(tmp_path, split="empty")
    (tmp_path / "VOCdevkit/VOC2012/JPEGImages/2007_000000.jpg").write_bytes(b"broken")
    with pytest.raises(ImageReadError, match="2007_000000.jpg"):
        VOCObjects(tmp_path, split="train").cutouts(0)


def test_large_void_region_does_not_join_the_object():
    lab = np.zeros((40, 60), np.uint8)
    lab[10:30, 5:20] = 1
    lab[5:35, 20:55] = 255  # a big void blob touching the instance (an ambiguous object)
    a = instance_alpha(lab, 1)
    assert np.all(a[15:25, 20:27] == 0.5)  # nearest labelled pixel is the instance, <= 8 px: half
    assert np.all(a[10:30, 30:55] == 0.0)  # deep inside the blob: not the object
