# PromptSRC (official): SGD lr 0.0025, 20 epochs, one warm-up epoch at 1e-5
# then cosine (Dassl semantics, see coop_sgd_cosine.py). The batch of 4 is set
# by the leaves (train_dataloader.batch_size); Gaussian prompt aggregation is
# in promptsrc_runtime.py.
_base_ = ['./coop_sgd_cosine.py']

lr = 0.0025
max_epochs = 20
optim_wrapper = dict(optimizer=dict(lr=lr))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
