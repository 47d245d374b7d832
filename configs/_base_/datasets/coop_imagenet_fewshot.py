# ImageNet, few-shot protocol: K shots (num_shots, default 16) of every class
# for training, top-1 over all classes on the test split (no validation, see
# coop_imagenet_base2new.py).
_base_ = ['./coop_imagenet_base2new.py']

train_dataloader = dict(dataset=dict(subsample='all'))
test_dataloader = dict(dataset=dict(subsample='all'))
test_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, ))
