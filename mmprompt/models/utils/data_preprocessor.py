# Copyright (c) mmprompt contributors. All rights reserved.
"""mmpretrain's data preprocessor, also taking stored image features."""
import torch
from mmpretrain.models.utils import ClsDataPreprocessor

from mmprompt.registry import MODELS


@MODELS.register_module()
class CLIPDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also passes stored image features.

    Images (``(3, H, W)`` tensors from ``PackInputs``) are handled exactly
    as by mmpretrain's ``ClsDataPreprocessor`` (``to_rgb``, ``mean`` /
    ``std``, padding, batch augmentation, labels). A batch of 1-d tensors is
    image features the feature store serves in place of images
    (:class:`~mmprompt.engine.feature_store.StoredFeatureDataset`): they are
    stacked to ``(B, D)`` and moved to the model's device unchanged (no
    normalisation, which would broadcast them silently), and the labels are
    handled as for images. ``OpenCLIPImageEncoder`` returns such inputs as
    its features.

    Args:
        **kwargs: ``ClsDataPreprocessor`` arguments (``mean``, ``std``,
            ``to_rgb``, ...).
    """

    #: Read by the feature store: this preprocessor passes features through.
    accepts_features = True

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        is_features = (isinstance(inputs, torch.Tensor)
                       and inputs.dim() == 2) or (isinstance(
                           inputs, (list, tuple)) and inputs and all(
                               isinstance(x, torch.Tensor) and x.dim() == 1
                               for x in inputs))
        if not is_features:
            return super().forward(data, training)
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.stack(list(inputs))
        # Labels, scores and data samples as for images; a 1-element
        # stand-in keeps the image branch from touching the features.
        out = super().forward(
            dict(data, inputs=inputs.new_zeros(len(inputs), 3, 1, 1)),
            training=False)
        return dict(
            inputs=self.cast_data(inputs), data_samples=out['data_samples'])
