# StanfordCars (196 classes: 98 base / 98 new) in CoOp's layout and split,
# base-to-new protocol as in coop_dtd_base2new.py.
_base_ = ['./coop_dtd_base2new.py']

dataset_type = 'CoOpStanfordCars'
data_root = 'data/stanford_cars'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
