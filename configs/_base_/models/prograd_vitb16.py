# ProGrad on CLIP ViT-B/16: CoOp's 4 context vectors from "a photo of a",
# trained with the CE gradient projected off the gradient of
# T^2 * KL(zero-shot || prompted) where the two conflict (T = 1); the
# zero-shot predictions use the dataset's hand-crafted prompt. The projection
# (lambda) is set by the optimiser wrapper of the leaf config:
#   optim_wrapper = dict(type='ProGradOptimWrapper', lambda_=1.0)
_base_ = ['./coop_vitb16.py']

model = dict(
    type='ProGradClassifier',
    head=dict(
        type='ProGradHead',
        knowledge_prompts=dict(type='HandcraftedPrompts', templates='dataset'),
        loss_kg=dict(type='KLDivergenceLoss', loss_weight=1.0),
        temperature=1.0))
