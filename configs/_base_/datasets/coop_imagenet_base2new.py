# ImageNet (1000 classes: 500 base / 500 new) in CoOp's layout, base-to-new
# protocol as in coop_dtd_base2new.py. The protocol has no val split: val is
# the 50,000-image test split, so there is no validation during training.
_base_ = ['./coop_dtd_base2new.py']

dataset_type = 'CoOpImageNet'
data_root = 'data/imagenet'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = None
val_evaluator = None
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
