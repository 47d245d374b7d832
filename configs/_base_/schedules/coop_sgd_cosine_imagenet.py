# coop_sgd_cosine.py for ImageNet: 50 epochs (CoOp's ImageNet schedule for
# every shot count) and no validation loop (its val split is the test split).
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 50
train_cfg = dict(max_epochs=max_epochs)
val_cfg = None
