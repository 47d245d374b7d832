# DAPT (official configs): SGD (momentum 0.9, wd 5e-4), batch 32, one warm-up
# epoch at 1e-5 then cosine; 200 epochs for 16 shots (50 / 100 / 100 / 200 /
# 200 for 1 / 2 / 4 / 8 / 16 shots; ImageNet's leaves take 50 epochs and no
# validation from coop_sgd_cosine_imagenet.py). The lr is per dataset (the
# leaves set it, configs/dapt/README.md lists them).
_base_ = ['./coop_sgd_cosine.py']
