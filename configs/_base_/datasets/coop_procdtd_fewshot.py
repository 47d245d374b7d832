# The procedural mini-DTD (see coop_procdtd_base2new.py), few-shot protocol:
# K shots (num_shots, default 16) of every one of its 29 classes for
# training, top-1 over all classes on the whole test split.
_base_ = ['./coop_procdtd_base2new.py']

train_dataloader = dict(dataset=dict(subsample='all'))
val_dataloader = dict(dataset=dict(subsample='all'))
test_dataloader = dict(dataset=dict(subsample='all'))
val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, ))
test_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, ))
