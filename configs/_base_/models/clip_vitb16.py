# Zero-shot CLIP ViT-B/16 (OpenAI weights through open_clip).
clip_name = 'ViT-B-16'
clip_pretrained = 'openai'
# OpenAI's CLIP uses QuickGELU. open_clip sets it for the 'openai' tag, but
# not for a local copy of the weights: keep it explicit.
clip_kwargs = dict(force_quick_gelu=True)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        # mmpretrain's ClsDataPreprocessor that also passes the features
        # the feature store serves in place of images.
        type='CLIPDataPreprocessor',
        # CLIP's mean / std in 0-255 RGB.
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        to_rgb=True),
    backbone=dict(
        type='OpenCLIPImageEncoder',
        model_name=clip_name,
        pretrained=clip_pretrained,
        model_kwargs=clip_kwargs),
    head=dict(
        type='PromptClsHead',
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name=clip_name,
            pretrained=clip_pretrained,
            model_kwargs=clip_kwargs),
        # 'dataset': the dataset's CoOp template, e.g. '{} texture.' on DTD.
        prompt_learner=dict(type='HandcraftedPrompts', templates='dataset')),
)
