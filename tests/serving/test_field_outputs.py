"""What field tools read: `rarespecies predict --detections` on hand-written MegaDetector batch
output (format 1.4 and 1.5 fields) over real image files, against a running `rarespecies serve`,
and batch runs over folders that write as they go and resume on a rerun."""
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from serving import megadetector
from tests.support.serving_process import start_serve, stop, wait_ready
from tests.support.stand_in_model import build_stand_in, image_bytes

SPECIES = ["Snowy Owl", "Puffin", "Razorbill", "Araripe Manakin"]
MODEL = "rarespecies"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import tensorflow as tf
    root = tmp_path_factory.mktemp("field")
    base = root / "models"
    base.mkdir()
    log_path = root / "server.log"
    proc, url = start_serve(base, log_path, "--poll-seconds", "0.3")
    try:
        build_stand_in(base / "1", SPECIES, seed=1)
        signature = tf.saved_model.load(str(base / "1")).signatures["serving_default"]

        def reference(data: bytes) -> dict:
            out = signature(image_bytes=tf.constant([data]))
            return {"scores": out["scores"].numpy()[0].tolist(),
                    "classes": [c.decode() for c in out["classes"].numpy()[0]]}
        wait_ready(url, proc, log_path, timeout=180)
        yield SimpleNamespace(url=url, root=root, reference=reference)
    finally:
        stop(proc)


def camera_image(path, seed: int, size=(320, 240)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(seed, size=size))


def crop_jpeg(path, bbox) -> bytes:
    """The crop the tool sends, made here from its documented rule (megadetector.square_crop)."""
    with Image.open(path) as image:
        buffer = io.BytesIO()
        megadetector.square_crop(image.convert("RGB"), bbox).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_square_crop_is_the_square_around_the_box_kept_inside_the_image():
    image = Image.new("RGB", (200, 100))
    # A 40x20 px box at (20, 30): the 40 px square around its centre (40, 40).
    assert megadetector.square_crop(image, [0.1, 0.3, 0.2, 0.2]).size == (40, 40)
    assert megadetector.square_crop(image, [0.1, 0.3, 0.2, 0.2]).getbbox() is None  # black
    left_top = megadetector.square_crop(image, [0.0, 0.0, 0.05, 0.1])  # 10x10 at the corner
    assert left_top.size == (10, 10)
    tall = megadetector.square_crop(image, [0.9, 0.0, 0.1, 1.0])  # 100 px square, moved left
    assert tall.size == (100, 100)


@pytest.mark.parametrize("format_version", ["1.4", "1.5"])
def test_megadetector_output_comes_back_with_classifications(server, tmp_path, format_version,
                                                             capsys):
    from pipeline.cli import main
    images = tmp_path / "images"
    for name, seed in (("cam1/IMG_0001.JPG", 1), ("cam1/IMG_0002.JPG", 2),
                       ("cam2/IMG_0003.JPG", 3)):
        camera_image(images / name, seed)
    animal, person, faint = [0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.2, 0.5], [0.6, 0.6, 0.2, 0.2]
    entries = [
        {"file": "cam1/IMG_0001.JPG", "detections": [
            {"category": "1", "conf": 0.91, "bbox": animal},
            {"category": "2", "conf": 0.95, "bbox": person},
            {"category": "1", "conf": 0.1, "bbox": faint}]},
        {"file": "cam1/IMG_0002.JPG", "detections": []},
        {"file": "cam2/IMG_0003.JPG", "detections": [
            {"category": "1", "conf": 0.5, "bbox": faint}]},
        {"file": "cam2/gone.JPG", "detections": [{"category": "1", "conf": 0.8, "bbox": animal}]},
        {"file": "cam2/broken.JPG", "failure": "Failure image access", "detections": None},
    ]
    if format_version == "1.4":  # 1.4 files still carry each image's max_detection_conf
        for entry in entries:
            entry["max_detection_conf"] = max((d["conf"] for d in entry["detections"] or []),
                                              default=0.0)
    results = {"info": {"format_version": format_version, "detector": "md_v5a.0.0.pt",
                        "detection_completion_time": "2026-11-30 10:00:00"},
               "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
               "images": entries}
    detections = tmp_path / "md.json"
    detections.write_text(json.dumps(results))
    out_path = tmp_path / "md_classified.json"

    assert main(["predict", "--url", server.url, "--detections", str(detections),
                 "--image-root", str(images), "--output", str(out_path)]) == 0
    assert "2 of 3 animal detections classified" in capsys.readouterr().out  # one file gone
    out = json.loads(out_path.read_text())
    assert out["info"]["detector"] == "md_v5a.0.0.pt"
    assert out["info"]["format_version"] == format_version
    assert out["detection_categories"] == results["detection_categories"]
    names = out["classification_categories"]
    first = out["images"][0]["detections"]
    expected = server.reference(crop_jpeg(images / "cam1/IMG_0001.JPG", animal))
    got = first[0]["classifications"]
    assert [names[c] for c, _ in got] == expected["classes"][:3]
    np.testing.assert_allclose([s for _, s in got], expected["scores"][:3], atol=1e-4)
    # The person and the detection under the threshold are left as they were.
    assert first[1] == results["images"][0]["detections"][1]
    assert first[2] == results["images"][0]["detections"][2]
    assert "classifications" in out["images"][2]["detections"][0]
    assert "cannot read" in out["images"][3]["detections"][0]["classification_failure"]
    assert out["images"][4] == results["images"][4]
    if format_version == "1.4":
        assert out["images"][0]["max_detection_conf"] == 0.95

    # A threshold no answer reaches: each classification starts with `unknown`.
    assert main(["predict", "--url", server.url, "--detections", str(detections),
                 "--image-root", str(images), "--output", str(out_path),
                 "--min-confidence", "0.999"]) == 0
    out = json.loads(out_path.read_text())
    got = out["images"][0]["detections"][0]["classifications"]
    assert out["classification_categories"][got[0][0]] == "unknown"
    assert got[0][1] == got[1][1]  # with the top species' score, which comes next


def test_detections_errors_are_messages(server, tmp_path, capsys):
    from pipeline.cli import main
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": []}))
    assert main(["predict", "--url", server.url, "--detections", str(bad), "--output",
                 str(tmp_path / "o.json")]) == 1
    assert "not MegaDetector batch output" in capsys.readouterr().err
    assert main(["predict", "--url", server.url, "--detections", str(bad)]) == 2
    assert "--detections needs --output" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_batch_predict_writes_as_it_goes_and_resumes(server, tmp_path, suffix, capsys):
    from pipeline.cli import main
    folder = tmp_path / "cards"
    for i in range(20):
        camera_image(folder / f"card{i % 2}" / f"IMG_{i:04d}.JPG", 40 + i, size=(48, 36))
    (folder / "card0" / "IMG_9999.JPG").write_bytes(b"not a jpeg")  # refused, not written
    out_path = tmp_path / f"results{suffix}"

    assert main(["predict", "--url", server.url, str(folder), "--output", str(out_path)]) == 1
    captured = capsys.readouterr()
    assert "20 results in" in captured.out and "IMG_9999.JPG" in captured.err

    def paths():
        lines = out_path.read_text().splitlines()
        if suffix == ".jsonl":
            return [json.loads(line)["path"] for line in lines]
        assert lines[0].startswith("path,label,species_1,score_1")
        return [line.split(",")[0] for line in lines[1:]]
    first = paths()
    assert len(first) == len(set(first)) == 20
    # Stopped after 15 files (the last line cut short): the rerun does the other 5 only.
    lines = out_path.read_text().splitlines(keepends=True)
    keep = 15 + (suffix == ".csv")
    out_path.write_text("".join(lines[:keep]) + lines[keep][:10])
    assert main(["predict", "--url", server.url, str(folder), "--output", str(out_path)]) == 1
    captured = capsys.readouterr()
    assert "15 of 21 images already in" in captured.err and "5 results in" in captured.out
    assert sorted(paths()) == sorted(first)  # the cut line is gone, nothing twice
    if suffix == ".jsonl":
        assert sorted(paths()) == sorted(first)
        one = json.loads(out_path.read_text().splitlines()[-1])
        expected = server.reference((folder / one["path"].split("cards/")[1]).read_bytes())
        assert one["label"] == expected["classes"][0]
        assert [p["species"] for p in one["predictions"]] == expected["classes"][:3]


def test_crops_are_shrunk_and_earlier_classifications_are_replaced(tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 60)).save(big)
    results = {"detection_categories": {"1": "animal"}, "images": [{"file": "big.jpg",
               "detections": [{"category": "1", "conf": 0.9, "bbox": [0.0, 0.0, 0.9, 0.9]},
                              {"category": "1", "conf": 0.1, "bbox": [0.5, 0.5, 0.1, 0.1],
                               "classifications": [["3", 0.9]]}]}]}
    (_, _, jpeg, _), = megadetector.crops(results, str(tmp_path), 0.2)
    with Image.open(io.BytesIO(jpeg)) as crop:
        assert max(crop.size) == megadetector.MAX_CROP_SIDE  # 3000 px square, shrunk
    answer = {"label": "Puffin", "predictions": [{"species": "Puffin", "score": 0.7}]}
    out = megadetector.classify(results, str(tmp_path), lambda jpegs: [answer] * len(jpegs))
    first, faint = out["images"][0]["detections"]
    assert out["classification_categories"] == {"0": "Puffin", "1": "unknown"}
    assert first["classifications"] == [["0", 0.7]]
    assert "classifications" not in faint  # an earlier run's ids would name other species
