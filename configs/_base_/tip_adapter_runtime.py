# default_runtime.py plus what every Tip-Adapter(-F) leaf shares (official
# main.py / utils.py): TipAdapterHook, which builds the cache from 10
# augmented views of every training image (from the feature store) and
# searches alpha / beta on val over (200, 20) steps, and the official training
# crop, RandomResizedCrop(224, scale (0.5, 1)) + flip, for the cache views and
# -F's training views. Leaves set the per-dataset search scale and take the
# crop with train_dataloader = dict(dataset=dict(
#     pipeline={{_base_.tip_train_pipeline}})).
_base_ = ['./default_runtime.py']

tip_train_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.5, 1.0),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
default_hooks = dict(
    tip_adapter=dict(
        type='TipAdapterHook',
        search=True,
        search_step=(200, 20),
        augment_epoch=10))
