# Copyright (c) mmprompt contributors. All rights reserved.
"""mmengine's ``DefaultSampler`` order, with seeded training views."""
import logging
from typing import Iterator

from mmengine.dataset import DefaultSampler
from mmengine.logging import print_log

from mmprompt.registry import DATA_SAMPLERS
from ..views import ViewIndex, unseeded_views_reason


@DATA_SAMPLERS.register_module()
class ViewSampler(DefaultSampler):
    """A ``DefaultSampler`` whose indices name their augmentation draw.

    The order is mmengine's ``DefaultSampler``'s exactly (the same
    ``torch.randperm`` of ``seed + epoch``, the same round-up and the same
    ``rank::world_size`` sharding; ``DistSamplerSeedHook`` sets the epoch
    through :meth:`set_epoch`), but every index is a
    :class:`~mmprompt.datasets.views.ViewIndex` of ``(index, seed, epoch)``.
    A CoOp dataset that receives one runs its pipeline under
    :func:`~mmprompt.datasets.views.seeded_view`, so the crop and flip of
    sample ``i`` in epoch ``e`` depend on ``(seed, e, i)`` only: not on the
    rank or dataloader worker that loads it, nor on what was drawn before.
    A 2-process run at batch ``B`` per process then sees the views of a
    1-process run at batch ``2 * B``, and two methods trained with the same
    seed see the same views.

    The runner builds it with ``seed=randomness.seed`` (mmengine passes the
    seed as a default argument), so every rank uses the same seed::

        train_dataloader = dict(
            sampler=dict(type='ViewSampler', shuffle=True), ...)

    A sample repeated by ``round_up`` (to make the dataset divide evenly
    among the ranks) gets the same view as its first appearance (its
    ``repeat`` is 0).

    A dataset that drops the draw (an mmengine ``ConcatDataset`` or
    ``RepeatDataset`` around the CoOp datasets, see
    :func:`~mmprompt.datasets.views.unseeded_views_reason`) gets a warning:
    it trains as with ``DefaultSampler``, its views drawn from the global
    generators.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Whether to shuffle the dataset. Defaults to True.
        seed (int, optional): The seed of the shuffling and of the views;
            None draws one random seed shared by all ranks. Defaults to
            None.
        round_up (bool): Whether to pad the indices so that every rank
            gets as many. Defaults to True.
    """

    def __init__(self, dataset, *args, **kwargs) -> None:
        super().__init__(dataset, *args, **kwargs)
        reason = unseeded_views_reason(dataset)
        if reason is not None:
            print_log(
                f'ViewSampler: {reason}; its training views come from the '
                'global random generators, as with DefaultSampler, so they '
                'depend on the worker and rank layout (and '
                'default_hooks.feature_store.train_views cannot be used).',
                logger='current',
                level=logging.WARNING)

    def __iter__(self) -> Iterator[ViewIndex]:
        """The indices of this rank in this epoch, as ``ViewIndex``es."""
        seed, epoch = self.seed, self.epoch
        for index in super().__iter__():
            yield ViewIndex(index, seed, epoch)
