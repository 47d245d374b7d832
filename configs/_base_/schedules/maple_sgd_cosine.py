# MaPLe / IVLP (official configs): SGD lr 0.0035, 5 epochs, one warm-up epoch
# at 1e-5 then cosine (Dassl semantics, see coop_sgd_cosine.py). The batch of 4
# is set by the leaves (train_dataloader.batch_size).
_base_ = ['./coop_sgd_cosine.py']

lr = 0.0035
max_epochs = 5
optim_wrapper = dict(optimizer=dict(lr=lr))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
