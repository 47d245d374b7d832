# CLIP-Adapter's optimisation. The official code is a trainer for CoOp's Dassl
# code base run "with CoOp's command" (its README), so it takes CoOp's
# optimiser settings: SGD lr 2e-3, momentum 0.9, weight decay 5e-4, batch 32,
# one warm-up epoch at a constant 1e-5, then cosine stepped per epoch, and
# the paper's 200 epochs (coop_sgd_cosine.py). Only the adapter's parameters
# reach the optimiser (the CLIP towers are frozen).
_base_ = ['./coop_sgd_cosine.py']

train_cfg = dict(max_epochs=200)
