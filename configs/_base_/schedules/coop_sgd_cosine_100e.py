# coop_sgd_cosine.py over 100 epochs: CoOp's schedule for 2 and 4 shots.
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
