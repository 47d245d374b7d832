# CoCoOp (official vit_b16_c4_ep10_batch1_ctxv1): SGD lr 2e-3, 10 epochs, one
# warm-up epoch at 1e-5 then cosine (Dassl semantics, see coop_sgd_cosine.py).
# The batch of 1 is set by the leaves (train_dataloader.batch_size).
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
