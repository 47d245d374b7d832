# CLIP-Adapter on CLIP ViT-B/16 (gaopengcuhk/CLIP-Adapter, clip_adapter.py): a
# bottleneck adapter (512 -> 128 -> 512, no bias, ReLU after each layer) on
# the frozen image feature, blended as 0.2 * adapter(f) + 0.8 * f, against
# the frozen text features of the dataset's CoOp template. Only the adapter
# trains (a checkpoint holds it alone).
_base_ = ['./clip_vitb16.py']

model = dict(
    head=dict(
        type='CLIPAdapterHead',
        adapter=dict(type='FeatureAdapter', reduction=4),
        ratio=0.2))
# The image tower is frozen, so a leaf sets the feature store to serve the
# training views too (every epoch's augmented views are encoded once per
# seed, epoch and batch layout, then read; identical training):
#   default_hooks = dict(feature_store=dict(train_views='exact'))
