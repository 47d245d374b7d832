# Zero-shot tiny CLIP on all 29 classes of the procedural mini-DTD (top-1),
# template '{} texture.': the zero-shot row of the offline few-shot table.
#   python tools/test.py configs/zeroshot/clip_tinyclip_procdtd_fewshot.py
_base_ = [
    '../_base_/models/clip_tinyclip.py',
    '../_base_/datasets/coop_procdtd_test.py',
    '../_base_/default_runtime.py',
]
