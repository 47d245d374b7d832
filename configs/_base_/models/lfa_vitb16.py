# LFA (saic-fi/LFA) on CLIP ViT-B/16: a learned 512 x 512 linear map W of the
# frozen, L2-normalised image features, scored against the frozen text
# features of the dataset's CoOp template (LFA's --use-template); W starts as
# the identity (zero-shot CLIP) and is fitted by LFALoop
# (schedules/lfa_procrustes_rerank.py). Only W is saved in checkpoints.
_base_ = ['./clip_vitb16.py']

model = dict(
    head=dict(
        type='LFAHead',
        loss=dict(type='AdaptiveRerankingLoss', knn=3, scale=4.0)))
