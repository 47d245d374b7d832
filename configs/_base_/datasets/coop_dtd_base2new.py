# DTD in CoOp's layout and splits, base-to-new protocol: 16 shots of the 24
# base classes for training; validation and test over all 47 classes, each
# image scored among its own group (base or new) by BaseNewAccuracy.
dataset_type = 'CoOpDTD'
data_root = 'data/dtd'
num_shots = 16
seed = 1

# LoadCoOpImage decodes as CoOp / Dassl do (PIL, EXIF orientation ignored);
# LoadCoOpImage(exif_orientation=True) applies it, as mmcv's loader does.
train_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.0),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='ResizeEdge',
        scale=224,
        edge='short',
        interpolation='bicubic',
        backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    # DefaultSampler's order; the crop of sample i in epoch e depends on
    # (seed, e, i) only, whatever the number of GPUs or workers.
    sampler=dict(type='ViewSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_shots=num_shots,
        seed=seed,
        subsample='base',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        num_shots=num_shots,
        seed=seed,
        subsample='all',
        pipeline=test_pipeline))
val_evaluator = dict(type='BaseNewAccuracy')
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
test_evaluator = val_evaluator
