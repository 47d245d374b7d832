# SUN397 (397 classes: 199 base / 198 new) in CoOp's layout and split,
# base-to-new protocol as in coop_dtd_base2new.py.
_base_ = ['./coop_dtd_base2new.py']

dataset_type = 'CoOpSUN397'
data_root = 'data/sun397'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
