"""The post-hoc tau (trainer/task.py's choose_on_validation) is fitted only on a validation split
that has every species train has; where it lacks some, the fixed --posthoc-tau stays."""
import numpy as np

from tests.support.tiny_classifier import dataset, flat, images, silent_model
from trainer import posthoc, stages, task
from trainer.hparams import RECIPES, TrainerConfig

TRAIN_COUNTS = [12, 12, 2]  # species 2 is rare: a carve of a tenth holds none of it out
SIGNAL = 60  # faint, so that the species' scores overlap and tau changes answers
CONFIG = TrainerConfig(fit_posthoc=True, posthoc_tau=2.0)  # a value neither fit chooses


def biased_model():
    """Each species scored by the brightness of its block, the two common ones raised by a
    bias: a model whose best tau on a full validation split is neither 0 nor 1."""
    model = silent_model()
    kernel = np.zeros((12, 3), np.float32)
    for c in range(3):
        kernel[4 * c:4 * c + 4, c] = 2.0
    model.layers[-1].set_weights([kernel, np.array([2.0, 2.0, 0.0], np.float32)])
    return model


def choose(valid_counts, config=CONFIG):
    train, valid = images(TRAIN_COUNTS, 0, SIGNAL), images(valid_counts, 1, SIGNAL)
    model = biased_model()
    fit = (posthoc.fit(stages.classify_embeddings(model, flat(valid[0])), valid[1],
                       TRAIN_COUNTS) if len(valid[1]) else None)
    report = task.choose_on_validation(model, config, TRAIN_COUNTS, dataset(train),
                                       dataset(valid), valid[1])
    return report, fit


def test_missing_species_are_those_with_train_images_and_no_validation_image():
    assert task.missing_species([12, 12, 2, 0], np.array([0, 1, 1])) == [2]
    assert task.missing_species([12, 12, 2], np.array([2, 0, 1])) == []


def test_a_split_with_every_species_fits_tau():
    report, fit = choose([6, 6, 6])
    assert fit.tau not in (0.0, CONFIG.posthoc_tau)  # the data tell a fit from the fixed tau
    assert report["posthoc_tau"] == fit.tau
    assert report["posthoc_tau_chosen_on"] == "the validation split"
    assert not report["posthoc_tau_fallback"] and report["_lacking_ids"] == []


def test_a_split_without_the_rare_species_keeps_the_fixed_tau():
    report, fit = choose([6, 6, 0])
    assert fit.tau != CONFIG.posthoc_tau  # what fitting on this split would have chosen
    assert report["posthoc_tau"] == CONFIG.posthoc_tau
    assert report["posthoc_tau_fallback"] and report["_lacking_ids"] == [2]
    assert report["posthoc_tau_chosen_on"] == ("nothing: fixed (--posthoc-tau), as the validation "
                                               "split lacks 1 species that train has")


def test_without_the_fit_the_fixed_tau_is_no_fallback():
    report, _ = choose([6, 6, 0], TrainerConfig(posthoc_tau=0.5))
    assert report["posthoc_tau"] == 0.5 and not report["posthoc_tau_fallback"]
    assert report["posthoc_tau_chosen_on"] == "nothing: fixed (--posthoc-tau)"


def test_without_validation_images_every_species_is_lacking():
    report, _ = choose([0, 0, 0])
    assert report["posthoc_tau"] == CONFIG.posthoc_tau and report["posthoc_tau_fallback"]
    assert report["_lacking_ids"] == [0, 1, 2]


def test_the_longtail_recipe_falls_back_to_menons_tau_and_the_paper_to_none():
    assert RECIPES["longtail"]["posthoc_tau"] == 1.0 and RECIPES["longtail"]["fit_posthoc"]
    assert "posthoc_tau" not in RECIPES["paper"] and TrainerConfig().posthoc_tau == 0.0
