"""trainer/sampling.py: each class's share of the sampled stream, over many batches, and the
same stream for the same seed."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import sampling

COUNTS = [248, 60, 8, 2]


def test_class_weights():
    np.testing.assert_allclose(sampling.class_weights(COUNTS, "natural"),
                               np.array(COUNTS) / sum(COUNTS))
    sqrt = np.sqrt(COUNTS)
    np.testing.assert_allclose(sampling.class_weights(COUNTS, "sqrt"), sqrt / sqrt.sum())
    np.testing.assert_allclose(sampling.class_weights(COUNTS, "balanced"), [0.25] * 4)
    np.testing.assert_allclose(sampling.class_weights([3, 0, 1], "balanced"), [0.5, 0, 0.5])
    # Quota: the species under 50 images raised to 50, the others as in the data.
    np.testing.assert_allclose(sampling.class_weights(COUNTS, "quota", 50),
                               np.array([248, 60, 50, 50]) / 408)
    np.testing.assert_allclose(sampling.class_weights([3, 0, 1], "quota", 2), [0.6, 0, 0.4])
    np.testing.assert_allclose(sampling.class_weights(COUNTS, "quota", 0),
                               sampling.class_weights(COUNTS, "natural"))
    with pytest.raises(ValueError, match="unknown sampling 'uniform'"):
        sampling.class_weights(COUNTS, "uniform")
    with pytest.raises(ValueError, match="resolve auto first"):
        sampling.class_weights(COUNTS, "auto")


@pytest.mark.parametrize("counts, quota, chosen", [
    ([248, 60, 8, 2], 64, "quota"),    # 79.5 images a species: field-like, the quota
    ([248, 60, 8, 2], 80, "balanced"),  # 79.5, just under the quota
    ([140, 87, 54, 34, 21, 13, 8, 5, 3, 2], 64, "balanced"),  # 36.7 a species: small
    ([64, 64, 0], 64, "quota"),        # a species with no train image does not count
    ([300, 2], 0, "balanced"),         # no quota: nothing to raise the rare ones to
])
def test_auto_is_the_quota_where_species_average_the_quota(counts, quota, chosen):
    assert sampling.resolve("auto", counts, quota) == chosen
    for mode in ("natural", "sqrt", "balanced", "quota"):
        assert sampling.resolve(mode, counts, quota) == mode


QUOTA = 100  # raises a class that is streamed from disk (60 images) as well as the rarest


def stream(mode, seed, draws=8000):
    per_class = [tf.data.Dataset.from_tensor_slices(np.full(n, c)) for c, n in enumerate(COUNTS)]
    weights = sampling.class_weights(COUNTS, mode, QUOTA)
    draws_ = sampling.sampled(per_class, weights, seed).take(draws)
    return np.array(list(draws_.as_numpy_iterator()))


@pytest.mark.parametrize("mode", ["natural", "sqrt", "balanced", "quota"])
def test_shares_over_many_draws(mode):
    labels = stream(mode, seed=3)
    shares = np.bincount(labels, minlength=len(COUNTS)) / len(labels)
    # 8,000 draws: a share's standard error is below 0.006; 0.02 is over 3 of them.
    np.testing.assert_allclose(shares, sampling.class_weights(COUNTS, mode, QUOTA), atol=0.02)


def test_deterministic_under_a_seed():
    np.testing.assert_array_equal(stream("balanced", 7, 500), stream("balanced", 7, 500))
    assert not np.array_equal(stream("balanced", 7, 500), stream("balanced", 8, 500))


def test_a_rare_class_is_drawn_over_and_over_in_every_image():
    per_class = [tf.data.Dataset.from_tensor_slices(np.arange(10) + 100 * c) for c in range(2)]
    per_class[1] = per_class[1].take(2)  # class 1 has 2 examples: 100 and 101
    draws = list(sampling.sampled(per_class, [0.5, 0.5], 1).take(400).as_numpy_iterator())
    rare = [d for d in draws if d >= 100]
    assert set(rare) == {100, 101} and len(rare) > 150


# --- Data over the cache budget: the rarest classes held, the others streamed and thinned ----

def test_in_memory_classes_rarest_first_within_the_budget():
    # 10 bytes an example: 20 + 80 fit in 100, the 600 of class 1 do not.
    assert sampling.in_memory_classes(COUNTS, 10, 100).tolist() == [False, False, True, True]
    assert sampling.in_memory_classes(COUNTS, 10, 10 ** 6).all()
    assert not sampling.in_memory_classes(COUNTS, 10, 0).any()


def test_keep_probabilities_give_each_streamed_class_its_share():
    streamed = [True, True, False, False]
    for mode in ("natural", "sqrt", "balanced", "quota"):
        weights = sampling.class_weights(COUNTS, mode, QUOTA)
        keep = sampling.keep_probabilities(COUNTS, weights, streamed)
        assert keep.max() == pytest.approx(1.0) and keep[2] == keep[3] == 0
        kept = np.asarray(COUNTS) * keep  # expected kept examples per pass
        np.testing.assert_allclose(kept[:2] / kept.sum(), weights[:2] / weights[:2].sum())


def mixed_stream(mode, seed, held, draws=8000):
    """COUNTS examples as (x, label): held classes from memory, the others thinned from one
    stream in which every class is grouped (as a listing sorted by species would be)."""
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(COUNTS)])
    examples = tf.data.Dataset.from_tensor_slices((np.arange(len(labels)), labels))
    weights = sampling.class_weights(COUNTS, mode, QUOTA)
    in_memory = [tf.data.Dataset.from_tensor_slices((np.arange(n), np.full(n, c)))
                 if held[c] else None for c, n in enumerate(COUNTS)]
    keep = sampling.keep_probabilities(COUNTS, weights, ~np.asarray(held))
    streamed = sampling.thinned(
        examples.filter(lambda x, y: tf.gather(tf.constant(~np.asarray(held)), y)), keep, seed)
    stream = sampling.mixed(in_memory, streamed, weights, seed).take(draws)
    return np.array([y for _, y in stream.as_numpy_iterator()])


@pytest.mark.parametrize("mode", ["sqrt", "balanced", "quota"])
def test_mixed_shares_over_many_draws(mode):
    labels = mixed_stream(mode, 3, np.array([False, False, True, True]))
    shares = np.bincount(labels, minlength=len(COUNTS)) / len(labels)
    np.testing.assert_allclose(shares, sampling.class_weights(COUNTS, mode, QUOTA), atol=0.02)


def test_mixed_is_deterministic_under_a_seed_and_thins_each_pass_anew():
    held = np.array([False, False, True, True])
    np.testing.assert_array_equal(mixed_stream("balanced", 5, held, 600),
                                  mixed_stream("balanced", 5, held, 600))
    keep = sampling.keep_probabilities(COUNTS, [0.5, 0.5, 0, 0], [True, True, False, False])
    examples = tf.data.Dataset.from_tensor_slices((np.arange(308), np.repeat([0, 1], [248, 60])))
    draws = [x for x, _ in sampling.thinned(examples, keep, 1).take(600).as_numpy_iterator()]
    # Class 1 (60 examples) is kept whole each pass, class 0 (248) about 60 times a pass; which
    # of class 0 changes from pass to pass: over ~5 passes far more than 60 distinct ones.
    ones = [x for x in draws if x >= 248]
    assert sorted(ones[:60]) == list(range(248, 308))
    assert len(set(x for x in draws if x < 248)) > 120
