# Tip-Adapter-F on CLIP ViT-B/16: Tip-Adapter (tip-adapter_vitb16.py) whose
# cache keys are a trainable parameter initialised from the cache, trained
# with the cross-entropy of the Tip-Adapter logits (initial alpha / beta).
_base_ = ['./tip-adapter_vitb16.py']

model = dict(head=dict(finetune=True))
