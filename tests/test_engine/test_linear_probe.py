# Copyright (c) mmprompt contributors. All rights reserved.
"""Linear-probe CLIP: CoOp's search of C and the weights of the fitted
classifier (the loop itself runs end to end in test_instance_train_test)."""
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from mmprompt.engine import linear_probe
from mmprompt.engine.linear_probe import (C_GRID, classifier_weights,
                                          search_logistic_regression)


def test_the_search_follows_coops_grid_then_bisection(monkeypatch):
    # A fake fit whose validation accuracy peaks at C = 3.
    monkeypatch.setattr(linear_probe, '_fit', lambda x, y, C, it: C)
    monkeypatch.setattr(linear_probe, '_accuracy',
                        lambda C, x, y: -abs(math.log10(C) - math.log10(3)))
    clf, C, acc, history = search_logistic_regression((None, None),
                                                      (None, None))
    tried = [c for c, _ in history]
    assert tried[:7] == list(C_GRID)
    # grid best 1 -> [0.1, 10]: 10 wins -> [10^0, 10]; 1 wins ->
    # [1, 10^0.5]; 10^0.5 wins -> [10^0.25, 10^0.5] ...
    expected = [0.1, 10, 1, 10, 1, 10**0.5, 10**0.25, 10**0.5]
    np.testing.assert_allclose(tried[7:15], expected)
    assert len(tried) == 7 + 2 * 8
    # the last round's choice is returned, with its classifier and accuracy
    assert clf == C and (C, acc) in history[-2:]
    assert abs(math.log10(C) - math.log10(3)) < 0.05
    # no bisection: the best grid value
    _, C, _, history = search_logistic_regression((None, None), (None, None),
                                                  search_steps=0)
    assert C == 1 and len(history) == 7


def test_the_search_picks_c_on_validation_data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 8)) * 2
    x = np.concatenate(
        [centers[c] + rng.normal(size=(40, 8)) for c in range(4)])
    y = np.repeat(np.arange(4), 40)
    train, val = (x[::2], y[::2]), (x[1::2], y[1::2])
    clf, C, acc, history = search_logistic_regression(
        train, val, search_steps=2)
    reference = LogisticRegression(C=C, max_iter=1000).fit(*train)
    assert acc == pytest.approx(np.mean(reference.predict(val[0]) == val[1]))
    assert acc > 0.8
    assert (C, acc) in history


@pytest.mark.parametrize('num_classes', [2, 4])
def test_classifier_weights_reproduce_the_predictions(num_classes):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    y = np.arange(60) % num_classes
    x[:, 0] += 3 * y  # separable along the first dimension
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    weight, bias = classifier_weights(clf, num_classes, 5)
    assert weight.shape == (num_classes, 5) and bias.shape == (num_classes, )
    logits = torch.as_tensor(x, dtype=torch.float32) @ weight.t() + bias
    assert logits.argmax(1).tolist() == clf.predict(x).tolist()
    with pytest.raises(ValueError, match='num_classes=5'):
        classifier_weights(clf, 5, 5)


def test_the_loop_asks_for_scikit_learn_before_any_feature_pass(monkeypatch):
    from mmprompt.engine.linear_probe import LinearProbeLoop
    from mmprompt.errors import ConfigError
    find_spec = linear_probe.importlib.util.find_spec
    monkeypatch.setattr(
        linear_probe.importlib.util, 'find_spec', lambda name, *a: None
        if name == 'sklearn' else find_spec(name, *a))
    # No runner or dataloader is touched: the check comes first.
    with pytest.raises(
            ConfigError,
            match=r"scikit-learn is not installed\. "
            r"Install it with pip install 'mmprompt\[optional\]'"):
        LinearProbeLoop(runner=None, dataloader=None)
