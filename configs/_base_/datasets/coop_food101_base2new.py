# Food101 (101 classes: 51 base / 50 new) in CoOp's layout and split,
# base-to-new protocol as in coop_dtd_base2new.py.
_base_ = ['./coop_dtd_base2new.py']

dataset_type = 'CoOpFood101'
data_root = 'data/food-101'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
