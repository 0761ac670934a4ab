"""The post-hoc tau (trainer/task.py's choose_on_validation) is fitted only on a validation split
that has every species train has; where it lacks some, the fixed --posthoc-tau stays."""
import numpy as np

from tests.support.tiny_classifier import dataset, images, silent_model
from trainer import posthoc, task
from trainer.hparams import RECIPES, TrainerConfig

TRAIN_COUNTS = [12, 12, 2]  # species 2 is rare: a carve of a tenth holds none of it out
CONFIG = TrainerConfig(fit_posthoc=True, posthoc_tau=1.0)


def test_missing_species_are_those_with_train_images_and_no_validation_image():
    assert task.missing_species([12, 12, 2, 0], np.array([0, 1, 1])) == [2]
    assert task.missing_species([12, 12, 2], np.array([2, 0, 1])) == []


def choose(valid_counts):
    train, valid = images(TRAIN_COUNTS, 0), images(valid_counts, 1)
    return task.choose_on_validation(silent_model(), CONFIG, TRAIN_COUNTS, dataset(train),
                                     dataset(valid), valid[1]), valid[1]


def test_a_split_without_the_rare_species_keeps_the_fixed_tau():
    report, labels = choose([6, 6, 0])
    # The silent model scores every species alike, so any tau above 0 answers the rare species
    # everywhere: on this split only errors, and the fit would go back to 0.
    uniform = np.full((len(labels), 3), 1 / 3)
    assert posthoc.fit(uniform, labels, TRAIN_COUNTS).tau == 0.0
    assert report["posthoc_tau"] == 1.0
    assert report["validation_lacks"] == [2]
    assert report["posthoc_tau_chosen_on"] == ("nothing: fixed (--posthoc-tau), as the validation "
                                               "split lacks 1 species that train has")


def test_a_split_with_every_species_fits_tau():
    report, labels = choose([6, 6, 6])
    uniform = np.full((len(labels), 3), 1 / 3)
    assert report["posthoc_tau"] == posthoc.fit(uniform, labels, TRAIN_COUNTS).tau == 0.0
    assert report["validation_lacks"] == []
    assert report["posthoc_tau_chosen_on"] == "the validation split"


def test_the_longtail_recipe_falls_back_to_menons_tau_and_the_paper_to_none():
    assert RECIPES["longtail"]["posthoc_tau"] == 1.0 and RECIPES["longtail"]["fit_posthoc"]
    assert TrainerConfig().posthoc_tau == 0.0
