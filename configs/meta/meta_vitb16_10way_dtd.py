# meta_vitb16_dtd.py with 10-way tasks (4 x 10 x 16 = 640 images/iteration).
_base_ = ['./meta_vitb16_dtd.py']

train_dataloader = dict(batch_sampler=dict(num_ways=10))
