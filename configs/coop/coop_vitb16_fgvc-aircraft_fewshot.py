# CoOp on FGVCAircraft, few-shot protocol: K shots of every class (16 by
# default; CoOp trains 50/100/100/200/200 epochs for 1/2/4/8/16 shots, see
# README).
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_fgvc-aircraft_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]
