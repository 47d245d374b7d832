# coop_sgd_cosine.py over 50 epochs, validating every 10: the offline world's
# schedule (CoOp, KgCoOp, DAPT and meta-training on the procedural mini-DTD).
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 50
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
