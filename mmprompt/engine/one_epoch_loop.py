# Copyright (c) mmprompt contributors. All rights reserved.
"""The counters of a training loop that fits its model in one "epoch"."""
from mmengine.runner import BaseLoop


class OneEpochLoop(BaseLoop):
    """A training loop of one epoch and one iteration, for methods fitted in
    closed form or without gradients (``LinearProbeLoop``, ``LFALoop``,
    ``TrainingFreeLoop``): ``max_epochs`` and ``max_iters`` are 1, and
    ``epoch`` / ``iter`` go from 0 to 1 when the subclass's :meth:`run` has
    fitted the model (it sets ``self._epoch`` and ``self._iter``), so
    ``CheckpointHook`` saves ``epoch_1.pth``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The training data.
    """

    def __init__(self, runner, dataloader) -> None:
        super().__init__(runner, dataloader)
        self._epoch = 0
        self._iter = 0

    @property
    def max_epochs(self) -> int:
        return 1

    @property
    def max_iters(self) -> int:
        return 1

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def iter(self) -> int:
        return self._iter
