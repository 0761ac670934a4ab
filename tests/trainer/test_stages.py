"""The Trainer's stages after model.fit: which weights are kept (BestEpoch, WeightAverage), on
a two-class linear model small enough to set each epoch's weights by hand."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import stages

# Two points a class; class 0 lies on the x axis, class 1 on the y axis.
PIXELS = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 2.0]], np.float32)
LABELS = np.array([0, 0, 1, 1])
RIGHT = [np.eye(2, dtype=np.float32), np.zeros(2, np.float32)]      # macro-F1 1
WRONG = [np.eye(2, dtype=np.float32)[::-1], np.zeros(2, np.float32)]  # every label swapped


def linear_model():
    inputs = tf.keras.Input((2,))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(2, activation="softmax")(inputs))


def train_by_hand(model, callbacks, epoch_weights):
    """Each epoch 'trains' the model to the next weights, then runs the callbacks' epoch end."""
    for callback in callbacks:
        callback.set_model(model)
    for epoch, weights in enumerate(epoch_weights):
        model.set_weights(weights)
        for callback in callbacks:
            callback.on_epoch_end(epoch, {})


def test_weight_average_is_the_mean_of_the_last_epochs_weights():
    model = linear_model()
    epochs = [[np.full((2, 2), e, np.float32), np.full(2, -e, np.float32)] for e in range(5)]
    average = stages.WeightAverage(first_epoch=3)  # epochs 3, 4 and 5: values 2, 3 and 4
    train_by_hand(model, [average], epochs)
    assert average.count == 3
    kernel, bias = average.mean()
    np.testing.assert_allclose(kernel, np.full((2, 2), 3.0))
    np.testing.assert_allclose(bias, np.full(2, -3.0))
    assert kernel.dtype == np.float32


@pytest.mark.parametrize("share, epochs, first_epoch", [
    (0.25, 20, 16), (0.25, 15, 12),
    (0.25, 10, 9),  # 2.5 epochs round to 2 (Python rounds halves to even)
    (0.01, 10, 10), (1.0, 4, 1)])
def test_the_average_over_the_last_share_of_the_epochs(share, epochs, first_epoch):
    assert stages.WeightAverage.over_last(share, epochs).first_epoch == first_epoch
    assert stages.WeightAverage.over_last(0.0, epochs) is None


@pytest.mark.parametrize("restore, averaged, kept", [
    (False, False, "WRONG"),  # the last epoch's (epoch 3)
    (True, False, "RIGHT"),   # the best epoch's (epoch 1)
    (False, True, "MEAN"),    # the average of epochs 2-3, though epoch 1 scored higher
    (True, True, "RIGHT"),    # restoring on: the best epoch scores above the average
])
def test_the_weights_kept(restore, averaged, kept):
    model = linear_model()
    best = stages.BestEpoch(PIXELS, LABELS, 2, restore=restore)
    average = stages.WeightAverage(first_epoch=2) if averaged else None
    # Epochs 2 and 3 are both wrong, and so is their mean.
    wrong_twice = [2 * WRONG[0], WRONG[1]]
    train_by_hand(model, [best] + ([average] if average else []), [RIGHT, WRONG, wrong_twice])
    assert best.history == [1.0, 0.0, 0.0]
    assert best.best_epoch == 1
    best.finish(average)
    expected = {"RIGHT": RIGHT, "WRONG": wrong_twice, "MEAN": [1.5 * WRONG[0], WRONG[1]]}
    for got, want in zip(model.get_weights(), expected[kept]):
        np.testing.assert_allclose(got, want)
    assert ("epoch 1" in best.kept) == (kept == "RIGHT")
    assert ("mean of the weights of epochs 2-3" in best.kept) == (kept == "MEAN")


def test_with_the_average_scoring_best_restoring_keeps_the_average():
    model = linear_model()
    best = stages.BestEpoch(PIXELS, LABELS, 2, restore=True)
    average = stages.WeightAverage(first_epoch=2)
    train_by_hand(model, [best, average], [WRONG, RIGHT, RIGHT])
    best.finish(average)
    for got, want in zip(model.get_weights(), RIGHT):
        np.testing.assert_allclose(got, want)
    assert best.kept.startswith("the mean of the weights of epochs 2-3")


def test_a_tie_on_validation_goes_to_the_average():
    """The average needs no choice on validation, so restoring needs a strictly better epoch."""
    model = linear_model()
    best = stages.BestEpoch(PIXELS, LABELS, 2, restore=True)
    average = stages.WeightAverage(first_epoch=2)
    train_by_hand(model, [best, average], [RIGHT, RIGHT])
    best.finish(average)
    assert best.kept.startswith("the mean")


def test_choose_takes_the_best_validation_f1_and_the_first_on_a_tie():
    from trainer.posthoc import Adjustment
    candidates = [("trained", Adjustment(validation_f1=0.5)),
                  ("cRT", Adjustment(validation_f1=0.5)),
                  ("other", Adjustment(validation_f1=0.4))]
    assert stages.choose(candidates)[0] == "trained"
    assert stages.choose(candidates + [("late", Adjustment(validation_f1=0.6))])[0] == "late"
