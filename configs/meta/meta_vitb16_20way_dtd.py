# meta_vitb16_dtd.py with 20-way tasks (4 x 20 x 16 = 1280 images/iteration).
_base_ = ['./meta_vitb16_dtd.py']

train_dataloader = dict(batch_sampler=dict(num_ways=20))
