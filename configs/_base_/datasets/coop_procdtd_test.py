# The procedural mini-DTD, test only: top-1 over all its 29 classes on the
# test split (the zero-shot row of the offline few-shot table).
_base_ = ['./coop_procdtd_fewshot.py']

train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
