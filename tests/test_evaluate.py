"""evaluate(): preprocessing and top-1/top-5 on a tiny generated ImageFolder, checked against hand computation."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
from conftest import assert_bad_input
import torch
from PIL import Image
from torch import nn

from effkit.errors import BadInputError
from effkit.evaluate import IMAGENET_MEAN, IMAGENET_STD, evaluate, preprocess, scan_image_folder, topk_correct

# The tiny classifier: logits = W · (mean normalised R, G, B) + b over 10 classes.
#   class 0 <- R, class 1 <- B, class 2 <- G, classes 3-6: constant 0, classes 7-9: constant -100.
TINY_MODEL_SOURCE = '''
import torch
from torch import nn


class MeanColour(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def build():
    return MeanColour()


def trained():
    m = MeanColour()
    with torch.no_grad():
        m.fc.weight.zero_()
        m.fc.bias.zero_()
        m.fc.weight[0, 0] = 1.0  # class 0 <- R
        m.fc.weight[1, 2] = 1.0  # class 1 <- B
        m.fc.weight[2, 1] = 1.0  # class 2 <- G
        m.fc.bias[7:] = -100.0
    return m
'''

# class folder -> (RGB colour, image size) of each image; solid colours stay solid through resize and crop.
IMAGES = {
    "a_cat": [((255, 0, 0), (300, 260)), ((255, 0, 0), (200, 400)), ((0, 0, 255), (64, 64))],
    "b_dog": [((0, 0, 255), (256, 256)), ((0, 255, 200), (320, 240)), ((0, 255, 0), (500, 300))],
}


def _norm(rgb):
    return [(c / 255 - m) / s for c, m, s in zip(rgb, IMAGENET_MEAN, IMAGENET_STD)]


def _hand_counts():
    """Top-1 / top-5 hits worked out from the colours, independently of the code under test.

    red (label 0): R = 2.25 tops every logit -> top-1 hit (twice)
    blue in a_cat (label 0): B = 2.64, then the four zeros, R = -2.12 is 6th -> miss, top-5 miss
    blue in b_dog (label 1): B tops -> hit
    (0, 255, 200) in b_dog (label 1): G = 2.43 first, B = 1.68 second -> top-1 miss, top-5 hit
    green in b_dog (label 1): G = 2.43, four zeros, B = -1.80 is 6th -> miss, top-5 miss
    """
    c1 = c5 = 0
    for label, (cls, images) in enumerate(sorted(IMAGES.items())):
        for rgb, _ in images:
            r, g, b = _norm(rgb)
            logits = [r, b, g, 0, 0, 0, 0, -100, -100, -100]
            order = sorted(range(10), key=lambda i: -logits[i])
            c1 += order[0] == label
            c5 += label in order[:5]
    return c1, c5


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "val"
    for cls, images in IMAGES.items():
        (root / cls).mkdir(parents=True)
        for i, (rgb, size) in enumerate(images):
            Image.new("RGB", size, rgb).save(root / cls / f"img{i}.png")
    (root / "a_cat" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def tiny(tmp_path):
    src = tmp_path / "tiny_model.py"
    src.write_text(TINY_MODEL_SOURCE)
    namespace: dict = {}
    exec(compile(TINY_MODEL_SOURCE, str(src), "exec"), namespace)
    weights = tmp_path / "tiny.pth"
    torch.save(namespace["trained"]().state_dict(), weights)
    return src, weights, namespace


def test_hand_counts_are_what_the_design_says():
    assert _hand_counts() == (3, 4)


def test_evaluate_matches_hand_computation(image_folder, tiny):
    _, weights, ns = tiny
    model = ns["build"]()  # random initialisation: only the loaded weights make it right
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate(model, image_folder, weights=weights, batch_size=4, device="cpu", workers=2)
    c1, c5 = _hand_counts()
    assert (res.images, res.classes, res.correct1, res.correct5) == (6, 2, c1, c5)
    assert res.top1 == pytest.approx(100 * 3 / 6)
    assert res.top5 == pytest.approx(100 * 4 / 6)
    # 2 class folders against 10 outputs: evaluated, with a warning saying what the labels assume
    assert any("2 class folders" in str(w.message) for w in caught)


@pytest.mark.filterwarnings("ignore:.*class folders")
def test_evaluate_reports_progress(image_folder, tiny):
    _, _, ns = tiny
    seen = []
    evaluate(ns["trained"](), image_folder, batch_size=4, device="cpu",
             progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 6), (6, 6)]


@pytest.mark.filterwarnings("ignore:.*class folders")
def test_evaluate_limit_spreads_over_classes(image_folder, tiny):
    _, _, ns = tiny
    res = evaluate(ns["trained"](), image_folder, limit=2, device="cpu")
    # 6 sorted samples, limit 2 -> indices 0 and 3: the first red (hit) and the blue in b_dog (hit)
    assert (res.images, res.correct1) == (2, 2)


def test_preprocess_centre_crop_offsets():
    # 320x256: the shorter side is already 256, so no resize; crop offsets left (320-224)/2 = 48, top 16
    w, h = 320, 256
    img = Image.new("RGB", (w, h))
    img.putdata([(x % 256, y % 256, (x + y) % 256) for y in range(h) for x in range(w)])
    x = preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    r_expected = (torch.arange(48, 48 + 224, dtype=torch.float32) % 256 / 255 - 0.485) / 0.229
    g_expected = (torch.arange(16, 16 + 224, dtype=torch.float32) / 255 - 0.456) / 0.224
    assert torch.allclose(x[0, 0, :], r_expected, atol=1e-5)
    assert torch.allclose(x[1, :, 0], g_expected, atol=1e-5)
    assert x[2, 0, 0].item() == pytest.approx(((48 + 16) / 255 - 0.406) / 0.225, abs=1e-5)


def test_preprocess_resizes_shorter_side_then_crops(tmp_path):
    # 100x50 (w x h) -> 512x256 after resize -> 224x224; a solid colour stays that colour
    p = tmp_path / "small.png"
    Image.new("RGB", (100, 50), (10, 200, 30)).save(p)
    x = preprocess(p)
    assert x.shape == (3, 224, 224)
    for ch, v in enumerate(_norm((10, 200, 30))):
        assert torch.allclose(x[ch], torch.full((224, 224), v), atol=1e-5)


def test_preprocess_greyscale_becomes_rgb():
    x = preprocess(Image.new("L", (256, 256), 128))
    assert x.shape == (3, 224, 224)
    assert x[0, 0, 0].item() == pytest.approx((128 / 255 - 0.485) / 0.229, abs=1e-5)


def test_scan_image_folder(image_folder):
    samples, classes = scan_image_folder(image_folder)
    assert classes == ["a_cat", "b_dog"]
    assert [(p.name, label) for p, label in samples] == [
        ("img0.png", 0), ("img1.png", 0), ("img2.png", 0), ("img0.png", 1), ("img1.png", 1), ("img2.png", 1)]


def test_topk_correct_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    # row 0: top-1 is 1 (hit); row 1: order 0, 2, 1 -> label 2 second; row 2: order 2, 1, 0 -> label last
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == [1, 2, 3]


@pytest.mark.parametrize("make, match", [
    (lambda root: root / "missing", "does not exist"),
    (lambda root: root, "no class sub-folders"),
    (lambda root: (root / "empty_class").mkdir() or root, "no images"),
])
def test_scan_bad_folders(tmp_path, make, match):
    with pytest.raises(BadInputError, match=match):
        scan_image_folder(make(tmp_path))


def test_unreadable_image_is_bad_input(tmp_path, tiny):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(BadInputError, match="cannot read image"):
        evaluate(tiny[2]["trained"](), tmp_path, device="cpu")


def test_more_classes_than_outputs_is_bad_input(tmp_path, image_folder):
    with pytest.raises(BadInputError, match="2 class folders but .* 1 outputs"):
        evaluate(nn.Sequential(nn.Flatten(), nn.LazyLinear(1)), image_folder, device="cpu")


def test_bad_batch_size(image_folder, tiny):
    with pytest.raises(BadInputError, match="batch size"):
        evaluate(tiny[2]["trained"](), image_folder, batch_size=0)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_evaluate_and_save_accuracy(image_folder, tiny, tmp_path, cli):
    src, weights, _ = tiny
    spec = f"{src}:build"
    acc = tmp_path / "acc.csv"
    code, out, err = cli("evaluate", spec, "--data", str(image_folder), "--weights", str(weights),
                         "--batch-size", "2", "--device", "cpu", "--save-accuracy", str(acc))
    assert code == 0, err
    assert "top-1 50.00 %" in out and "top-5 66.67 %" in out
    from effkit.report.accuracy import accuracy_of, load_accuracy

    assert accuracy_of(load_accuracy(acc), spec) == pytest.approx(50.0)
    code, out, err = cli("evaluate", spec, "--data", str(image_folder), "--weights", str(weights),
                         "--device", "cpu", "--format", "json", "--limit", "3")
    assert code == 0, err
    assert json.loads(out)["images"] == 3


@pytest.mark.parametrize("case", ["data", "weights", "mismatch", "format", "limit"])
def test_cli_evaluate_bad_input(image_folder, tiny, tmp_path, cli, case):
    src, weights, _ = tiny
    args = ["evaluate", f"{src}:build", "--data", str(image_folder), "--weights", str(weights), "--device", "cpu"]
    if case == "data":
        args[3] = str(tmp_path / "nowhere")
    elif case == "weights":
        args[5] = str(tmp_path / "none.pth")
    elif case == "mismatch":
        torch.save(nn.Linear(3, 4).state_dict(), tmp_path / "other.pth")  # 4 outputs, not 10
        args[5] = str(tmp_path / "other.pth")
    elif case == "format":
        args += ["--format", "xml"]
    elif case == "limit":
        args += ["--limit", "0"]
    assert_bad_input(cli(*args))


def test_cli_evaluate_subprocess(image_folder, tiny):
    import subprocess

    src, weights, _ = tiny
    proc = subprocess.run([sys.executable, "-m", "effkit", "evaluate", f"{src}:build", "--data",
                           str(image_folder / "a_cat" / "img0.png"), "--weights", str(weights)],
                          capture_output=True, text=True, timeout=120)
    assert_bad_input(proc)


# ------------------------------------------------------------------------------------------------ review fixes

BAD_DEVICES = ["foo", "cuda:x", "meta"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_evaluate_bad_device_is_an_effkit_error(image_folder, tiny, device):
    from effkit.errors import EffkitError

    with pytest.raises(EffkitError, match="device"):
        evaluate(tiny[2]["trained"](), image_folder, device=device)


@pytest.fixture
def no_evaluation(monkeypatch):
    """Fail the test if the evaluation itself starts: the CLI must refuse bad input before it."""
    import effkit.evaluate

    def boom(*args, **kwargs):
        raise AssertionError("the evaluation ran before the bad input was refused")

    monkeypatch.setattr(effkit.evaluate, "evaluate", boom)


@pytest.mark.parametrize("device", BAD_DEVICES)
def test_cli_evaluate_bad_device(image_folder, tiny, cli, no_evaluation, device):
    src, weights, _ = tiny
    assert_bad_input(cli("evaluate", f"{src}:build", "--data", str(image_folder), "--weights", str(weights),
                         "--device", device), "device")


@pytest.mark.parametrize("case", ["no-folder", "directory", "not-an-accuracy-csv"])
def test_cli_evaluate_checks_save_accuracy_first(image_folder, tiny, tmp_path, cli, no_evaluation, case):
    src, weights, _ = tiny
    target = tmp_path / "acc.csv"
    if case == "no-folder":
        target = tmp_path / "nowhere" / "acc.csv"
    elif case == "directory":
        target.mkdir()
    else:
        target.write_text("name,accuracy\nx,1\n")
    assert_bad_input(cli("evaluate", f"{src}:build", "--data", str(image_folder), "--weights", str(weights),
                         "--device", "cpu", "--save-accuracy", str(target)), str(target))
    if case == "no-folder":
        assert not target.parent.exists()
    elif case == "not-an-accuracy-csv":
        assert target.read_text() == "name,accuracy\nx,1\n"


def test_cli_evaluate_bad_device_subprocess(image_folder, tiny):
    import subprocess

    src, weights, _ = tiny
    proc = subprocess.run([sys.executable, "-m", "effkit", "evaluate", f"{src}:build", "--data", str(image_folder),
                           "--weights", str(weights), "--device", "foo"], capture_output=True, text=True, timeout=120)
    assert_bad_input(proc, "'foo'")
