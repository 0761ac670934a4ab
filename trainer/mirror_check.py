"""Does a mirror image keep its class? The check behind `--augmentation auto`.

Flipping training images left to right assumes that an image's mirror image shows the same
class: true of animals, which face either way, false of digits, letters and signs, whose mirror
image is another class or none. `auto` tests that assumption on the labelled images before
training, with a model that needs no training: the nearest class mean on small thumbnails of
the raw pixels, standardised, scored leave-one-out over the train and validation images (each
image against class means without it; the test split is never read). Each image and its mirror
image are classified; the flip is left out (`crop`) when

  - the mirror images are classified right significantly less often: McNemar's one-sided
    test on the images right only as they are against those right only mirrored, z >= Z_MIN;
  - and by a margin that matters: the mirror images lose at least LOSS_MIN of the accuracy the
    nearest class mean has above chance.

Otherwise the flip stays (`flip_crop`): also where the raw pixels say nothing (accuracy near
chance, as on animals at random places in cluttered scenes). What it cannot tell apart: a
class recognised by an asymmetric background (one camera per species) loses under the mirror
too; detector crops (MegaDetector's) show the animal, not the scene. NumPy only.
"""
import dataclasses

import numpy as np

THUMBNAIL = 16  # pixels a side: enough for a digit's shape, cheap at any image size
Z_MIN = 3.0
LOSS_MIN = 0.2


@dataclasses.dataclass(frozen=True)
class MirrorCheck:
    images: int
    accuracy: float  # the nearest class mean, leave-one-out, on the images as they are
    mirrored_accuracy: float  # on their mirror images
    chance: float
    right_only_as_they_are: int
    right_only_mirrored: int
    z: float
    share_lost: float  # of the accuracy above chance
    mirror_keeps_class: bool

    @property
    def augmentation(self) -> str:
        return "flip_crop" if self.mirror_keeps_class else "crop"


def loo_nearest_mean(features: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """The nearest class mean of each query, where query i stands for features[i]: its own
    class's mean is taken without features[i] (leave-one-out). A class left empty is never
    chosen. features and queries [n, d]; labels [n] ids."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    sums = np.zeros((num_classes, features.shape[1]))
    np.add.at(sums, labels, features)
    means = sums / np.maximum(counts, 1)[:, None]
    distances = ((queries ** 2).sum(1)[:, None] - 2 * queries @ means.T
                 + (means ** 2).sum(1)[None, :])
    # Own class without the image: mean' = (n mean - x) / (n - 1).
    rows = np.arange(len(labels))
    n = counts[labels]
    own = (n[:, None] * means[labels] - features) / np.maximum(n - 1, 1)[:, None]
    distances[rows, labels] = ((queries - own) ** 2).sum(1)
    distances[rows[n <= 1], labels[n <= 1]] = np.inf
    distances[:, counts == 0] = np.inf
    return distances.argmin(axis=1)


def check(thumbnails: np.ndarray, labels: np.ndarray, num_classes: int) -> MirrorCheck:
    """thumbnails: float [n, height, width, channels] of the labelled images; labels [n] ids."""
    labels = np.asarray(labels, np.int64)
    flat = thumbnails.reshape(len(thumbnails), -1).astype(np.float32)
    mirrored = thumbnails[:, :, ::-1].reshape(len(thumbnails), -1).astype(np.float32)
    centre, scale = flat.mean(axis=0), flat.std(axis=0) + 1e-3
    flat, mirrored = (flat - centre) / scale, (mirrored - centre) / scale
    right = loo_nearest_mean(flat, labels, flat, num_classes) == labels
    right_mirrored = loo_nearest_mean(flat, labels, mirrored, num_classes) == labels
    lost = int((right & ~right_mirrored).sum())
    gained = int((~right & right_mirrored).sum())
    z = (lost - gained) / np.sqrt(lost + gained) if lost + gained else 0.0
    chance = 1.0 / num_classes
    accuracy = float(right.mean()) if len(labels) else 0.0
    mirrored_accuracy = float(right_mirrored.mean()) if len(labels) else 0.0
    above = accuracy - chance
    share_lost = (accuracy - mirrored_accuracy) / above if above > 0 else 0.0
    return MirrorCheck(
        images=int(len(labels)), accuracy=accuracy, mirrored_accuracy=mirrored_accuracy,
        chance=chance, right_only_as_they_are=lost, right_only_mirrored=gained, z=float(z),
        share_lost=float(share_lost),
        mirror_keeps_class=not (z >= Z_MIN and share_lost >= LOSS_MIN))
