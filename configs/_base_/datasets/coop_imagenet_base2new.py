# ImageNet (1000 classes: 500 base / 500 new; val = test = the official val
# set) in CoOp's layout and split, base-to-new protocol as in
# coop_dtd_base2new.py.
_base_ = ['./coop_dtd_base2new.py']

dataset_type = 'CoOpImageNet'
data_root = 'data/imagenet'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
