# base_runtime.py for linear-probe configs: one closed-form fit
# (LinearProbeLoop) of a logistic regression, C searched on the val split as
# CoOp's lpclip does. Leaves feed the training images, in order, through the
# *test* transform (as lpclip extracts features):
#   train_dataloader = dict(
#       sampler=dict(shuffle=False),
#       dataset=dict(pipeline={{_base_.test_pipeline}}))
_base_ = ['./base_runtime.py']

train_cfg = dict(type='LinearProbeLoop', search_steps=8)
val_cfg = dict()
test_cfg = dict()
# Required by the Runner next to train_cfg but never stepped: the probe is
# fitted by L-BFGS inside LinearProbeLoop, not by gradient steps.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))
# Not default_runtime.py: a linear head has no class names to bind (no
# SetClassNamesHook), and the one fit needs no reseeding per epoch (no
# EpochSeedHook).
default_hooks = dict(checkpoint=dict(save_param_scheduler=False))
