# torch_peer.py's own bench-s model and seeded batch, for the scripts that time PyTorch beside us round by round
# (peer-tokenize.py and fp32-ceiling.py here, packages/bench/bench/peer-steps.py). Import it before torch.
import json
import os
import sys


def load_peer(peer, threads):
    """torch_peer.py at path `peer` on `threads` threads: (its module, torch, config, model, images, generator).

    torch_peer sets the thread environment and loads OpenBLAS when imported, so torch must not be imported
    before. The images are its seeded batch; the generator continues the same stream (prompts come next).
    """
    sys.argv = [sys.argv[0], "--threads", str(threads)]
    sys.path.insert(0, os.path.dirname(os.path.abspath(peer)))
    import torch_peer as tp
    import torch

    torch.set_num_threads(int(threads))
    with open(tp.ARGS.config) as fh:
        cfg = json.load(fh)
    batch = cfg["benchmark"]["batch"]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = tp.BenchS(cfg)
    im = cfg["image"]
    img = torch.rand(batch, im["channels"], im["size"], im["size"], generator=gen) * 2 - 1
    return tp, torch, cfg, model, img, gen
