# CoOp on DTD with the image tower taken from mmpretrain instead of open_clip:
# mmpretrain's VisionTransformer (CLIP layout) + a CLIP projection neck. The
# head is unchanged: it only needs image features in the text encoder's
# embedding space.
#
# Weights: convert OpenAI's ViT-B-16.pt with mmpretrain's converter
#   python .venv/lib/python3.11/site-packages/mmpretrain/.mim/tools/\
#     model_converters/openai-clip_to_mmpretrain-clip.py \
#     ViT-B-16.pt checkpoints/clip-vit-base-p16_openai_mmpretrain.pth
# (its keys are 'visual.*' for the backbone and 'visual_proj.proj').
#
# FrozenTowerClassifier freezes the backbone and neck, loads them from that
# file when the model is built (also for tools/test.py), and leaves them out
# of checkpoints: a checkpoint holds the 4 context vectors only, as with
# open_clip's towers. Keep the file: testing a checkpoint reads it again.
_base_ = ['./coop_vitb16_dtd.py']

mmpretrain_clip = 'checkpoints/clip-vit-base-p16_openai_mmpretrain.pth'

model = dict(
    type='FrozenTowerClassifier',
    frozen=('backbone', 'neck'),
    backbone=dict(
        _delete_=True,
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_rate=0.,
        pre_norm=True,
        final_norm=True,
        out_type='cls_token',
        layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
        init_cfg=dict(
            type='Pretrained', checkpoint=mmpretrain_clip, prefix='visual.')),
    neck=dict(
        type='CLIPProjectionNeck',
        in_channels=768,
        out_channels=512,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=mmpretrain_clip,
            prefix='visual_proj.')),
)
