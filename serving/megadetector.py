"""MegaDetector in, MegaDetector out: classify the animals MegaDetector found and write its
batch-output JSON back with `classifications` filled, as Timelapse, AddaxAI and the MegaDetector
tools read it (format 1.4/1.5: `images[].detections[]` with `category`, `conf` and `bbox`
[x_min, y_min, width, height] normalised to the image, origin top-left).

Each detection of an animal category at or above the detection threshold is cropped to the
square around its box (as MegaDetector's own crop tool does; clamped to the image, shrunk to at
most MAX_CROP_SIDE pixels a side), sent to the served model, and given `classifications`:
[[category id, score], ...], best first, top k. An answer under the confidence threshold starts
with the `unknown` category (with the top score), so a tool that reads the first entry leaves it
to a person. `classification_categories` maps the
ids ("0", "1", ... in the species' alphabetical order, then unknown) to names. Images that
failed in MegaDetector, other categories and detections under the threshold are left as they
were, less any classifications of an earlier run (whose ids named other categories)."""
import datetime
import io
import json
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from PIL import Image, ImageOps

ANIMAL = "animal"
UNKNOWN = "unknown"
SUPPORTED_VERSIONS = ("1.3", "1.4", "1.5", "1.6")
MAX_CROP_SIDE = 512  # pixels; crops are shrunk to this before they are sent


class DetectionsError(ValueError):
    """The file is not MegaDetector batch output this tool can read."""


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
    except (OSError, ValueError) as err:
        raise DetectionsError(f"cannot read MegaDetector results {path}: {err}") from None
    if not isinstance(results, dict) or not isinstance(results.get("images"), list) or \
            not isinstance(results.get("detection_categories"), dict):
        raise DetectionsError(f"{path}: not MegaDetector batch output (needs 'images' and "
                              "'detection_categories')")
    version = str(results.get("info", {}).get("format_version", ""))
    if version and version not in SUPPORTED_VERSIONS:
        raise DetectionsError(f"{path}: format_version {version} (supported: "
                              f"{', '.join(SUPPORTED_VERSIONS)})")
    return results


def animal_categories(results: dict) -> set:
    return {cid for cid, name in results["detection_categories"].items()
            if str(name).lower() == ANIMAL}


def square_crop(image: Image.Image, bbox: List[float]) -> Image.Image:
    """The square around a normalised [x, y, w, h] box, side max(w, h) in pixels, moved to lie
    within the image where it can (a box wider than the image is cropped to it)."""
    width, height = image.size
    x, y, w, h = (float(v) for v in bbox)
    side = max(1, round(max(w * width, h * height)))
    cx, cy = (x + w / 2) * width, (y + h / 2) * height
    left = min(max(0, round(cx - side / 2)), max(0, width - side))
    top = min(max(0, round(cy - side / 2)), max(0, height - side))
    return image.crop((left, top, min(width, left + side), min(height, top + side)))


def crops(results: dict, image_root: str, threshold: float
          ) -> Iterator[Tuple[int, int, Optional[bytes], str]]:
    """(image index, detection index, JPEG bytes of the crop, or None with the reason) for each
    animal detection at or above `threshold`."""
    animals = animal_categories(results)
    for i, entry in enumerate(results["images"]):
        wanted = [(j, d) for j, d in enumerate(entry.get("detections") or [])
                  if str(d.get("category")) in animals and float(d.get("conf", 0)) >= threshold]
        if not wanted or entry.get("failure"):
            continue
        path = Path(image_root) / entry["file"]
        try:
            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except Exception as err:  # noqa: BLE001 - missing, unreadable: named in the output
            for j, _ in wanted:
                yield i, j, None, f"cannot read {path}: {err}"
            continue
        for j, detection in wanted:
            crop = square_crop(image, detection["bbox"])
            # The model sees a few hundred pixels at most; a close animal in a 20 MP frame
            # would otherwise make a request of megabytes (and trip the server's caps).
            crop.thumbnail((MAX_CROP_SIDE, MAX_CROP_SIDE))
            buffer = io.BytesIO()
            crop.save(buffer, "JPEG", quality=95)
            yield i, j, buffer.getvalue(), ""


def classify(results: dict, image_root: str, classify_crops: Callable[[List[bytes]], list],
             threshold: float = 0.2, top_k: int = 3, batch_size: int = 16,
             classifier: str = "rarespecies", progress: Callable[[int], None] = lambda n: None
             ) -> Dict:
    """The results with classifications. `classify_crops(jpegs)` returns, per crop, {"label",
    "predictions": [{"species", "score"}]} (serving.client's shape)."""
    pending = list(crops(results, image_root, threshold))
    answers: Dict[Tuple[int, int], dict] = {}
    for start in range(0, len(pending), batch_size):
        chunk = [c for c in pending[start:start + batch_size] if c[2] is not None]
        if chunk:
            for (i, j, _, _), answer in zip(chunk, classify_crops([c[2] for c in chunk])):
                answers[(i, j)] = answer
        for i, j, data, reason in pending[start:start + batch_size]:
            if data is None:
                answers[(i, j)] = {"error": reason}
        progress(len(pending[start:start + batch_size]))
    species = sorted({p["species"] for a in answers.values() for p in a.get("predictions", [])})
    ids = {name: str(k) for k, name in enumerate(species)}
    ids[UNKNOWN] = str(len(species))
    out = json.loads(json.dumps(results))  # a deep copy
    # Classifications from an earlier run name the earlier categories: all are made anew.
    for entry in out["images"]:
        for detection in entry.get("detections") or []:
            detection.pop("classifications", None)
            detection.pop("classification_failure", None)
    for (i, j), answer in answers.items():
        detection = out["images"][i]["detections"][j]
        if "error" in answer:
            detection["classification_failure"] = answer["error"]
            continue
        pairs = [[ids[p["species"]], round(p["score"], 4)] for p in answer["predictions"][:top_k]]
        if answer["label"] == UNKNOWN and pairs:
            pairs.insert(0, [ids[UNKNOWN], pairs[0][1]])
        detection["classifications"] = pairs
    out["classification_categories"] = {cid: name for name, cid in ids.items()}
    info = out.setdefault("info", {})
    info.setdefault("format_version", "1.4")
    info["classifier"] = classifier
    info["classification_completion_time"] = datetime.datetime.now().strftime(
        "%Y-%m-%d %H:%M:%S")
    return out


def count_crops(results: dict, threshold: float) -> int:
    animals = animal_categories(results)
    return sum(1 for entry in results["images"] if not entry.get("failure")
               for d in entry.get("detections") or []
               if str(d.get("category")) in animals and float(d.get("conf", 0)) >= threshold)
