# Smoke test: CoCoOp on the tiny random-weight CLIP and the synthetic dataset
# (coop_tiny_synthetic.py with CoCoOp's head and prompt learner).
_base_ = ['../coop/coop_tiny_synthetic.py']

# CoCoOpPromptLearner's defaults: 4 ctx from "a photo of a", reduction 16.
model = dict(
    head=dict(
        type='CoCoOpHead',
        prompt_learner=dict(_delete_=True, type='CoCoOpPromptLearner')))
