# mmprompt's tiny open_clip config (32x32 images, 64-d embeddings, random
# weights): the offline smoke-test towers. A tower layer like
# tinyclip_tower.py (see there how a leaf uses it).
tower = dict(model_name='mmprompt-tiny', pretrained=None, model_kwargs=None)
