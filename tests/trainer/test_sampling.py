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
    with pytest.raises(ValueError, match="unknown sampling 'uniform'"):
        sampling.class_weights(COUNTS, "uniform")


def stream(mode, seed, draws=8000):
    per_class = [tf.data.Dataset.from_tensor_slices(np.full(n, c)) for c, n in enumerate(COUNTS)]
    draws_ = sampling.sampled(per_class, sampling.class_weights(COUNTS, mode), seed).take(draws)
    return np.array(list(draws_.as_numpy_iterator()))


@pytest.mark.parametrize("mode", ["natural", "sqrt", "balanced"])
def test_shares_over_many_draws(mode):
    labels = stream(mode, seed=3)
    shares = np.bincount(labels, minlength=len(COUNTS)) / len(labels)
    # 8,000 draws: a share's standard error is below 0.006; 0.02 is over 3 of them.
    np.testing.assert_allclose(shares, sampling.class_weights(COUNTS, mode), atol=0.02)


def test_deterministic_under_a_seed():
    np.testing.assert_array_equal(stream("balanced", 7, 500), stream("balanced", 7, 500))
    assert not np.array_equal(stream("balanced", 7, 500), stream("balanced", 8, 500))


def test_a_rare_class_is_drawn_over_and_over_in_every_image():
    per_class = [tf.data.Dataset.from_tensor_slices(np.arange(10) + 100 * c) for c in range(2)]
    per_class[1] = per_class[1].take(2)  # class 1 has 2 examples: 100 and 101
    draws = list(sampling.sampled(per_class, [0.5, 0.5], 1).take(400).as_numpy_iterator())
    rare = [d for d in draws if d >= 100]
    assert set(rare) == {100, 101} and len(rare) > 150
