# Tip-Adapter on CLIP ViT-B/16: zero-shot CLIP (clip_vitb16.py, the dataset's
# hand-crafted template) plus a key-value cache of the few-shot training
# features, logits 100 * f W^T + alpha * exp(-beta * (1 - f keys^T)) values.
# TipAdapterHook (set in the leaves, with the per-dataset search scales)
# builds the cache from the feature store and searches alpha / beta on val;
# alpha / beta here are the official init_alpha / init_beta.
_base_ = ['./clip_vitb16.py']

model = dict(
    head=dict(
        type='TipAdapterHead',
        alpha=1.0,
        beta=1.0,
        finetune=False,
        # The official code hard-codes 100, OpenAI CLIP's temperature
        # (None: the text encoder's own, e.g. 18.9 for the tiny CLIP).
        logit_scale=100.))
