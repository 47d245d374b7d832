# Copyright (c) mmprompt contributors. All rights reserved.
from .dapt import (DAPTInterLoss, DAPTIntraLoss, dapt_inter_loss,
                   dapt_intra_loss)
from .feature_distance import (CosineDistanceLoss, L1DistanceLoss,
                               cosine_distance)
from .kl_divergence import KLDivergenceLoss, kl_divergence
from .reranking import AdaptiveRerankingLoss, adaptive_reranking_loss

__all__ = [
    'KLDivergenceLoss', 'kl_divergence', 'DAPTIntraLoss', 'DAPTInterLoss',
    'dapt_intra_loss', 'dapt_inter_loss', 'CosineDistanceLoss',
    'cosine_distance', 'L1DistanceLoss', 'AdaptiveRerankingLoss',
    'adaptive_reranking_loss'
]
