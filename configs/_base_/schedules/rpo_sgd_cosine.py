# RPO base-to-new (official configs/trainers/RPO/main_K24.yaml, Dassl
# semantics, see coop_sgd_cosine.py): SGD lr 0.01 (momentum 0.9 and weight
# decay 5e-4, Dassl's defaults), 15 epochs, one warm-up epoch at a constant
# 1e-5 then cosine. The batch of 4 is set by the leaves
# (train_dataloader.batch_size). The ImageNet source of domain generalisation
# (imagenet_k24_ep15.yaml) trains with lr 0.005.
_base_ = ['./coop_sgd_cosine.py']

lr = 0.01
max_epochs = 15
optim_wrapper = dict(optimizer=dict(lr=lr))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
