# Linear-probe CLIP ResNet-50: a linear layer on the frozen attention-pool
# features (1024-d, not normalised), fitted by LinearProbeLoop (scikit-learn
# logistic regression, C searched on val as CoOp's lpclip). Leaves set
# num_classes.
_base_ = ['./clip_rn50.py']

model = dict(
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=None,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
