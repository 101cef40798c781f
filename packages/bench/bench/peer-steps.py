# Step server over torch_peer.py's own BenchS model: one PyTorch train step per "step" line on stdin, its
# milliseconds on stdout, so interleaved-train.ts can alternate it step by step with ours on a shared machine.
# Usage: python3 peer-steps.py <path of torch_peer.py> <threads>
import json
import os
import sys
import time

peer, threads = sys.argv[1], sys.argv[2]
sys.argv = [sys.argv[0], "--threads", threads]
sys.path.insert(0, os.path.dirname(os.path.abspath(peer)))
import torch_peer as tp  # noqa: E402  (sets the thread env and loads OpenBLAS before torch runs)
import torch  # noqa: E402
torch.set_num_threads(int(threads))
with open(tp.ARGS.config) as fh:
    cfg = json.load(fh)
batch = cfg["benchmark"]["batch"]
torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)
model = tp.BenchS(cfg)
im = cfg["image"]
img = torch.rand(batch, im["channels"], im["size"], im["size"], generator=gen) * 2 - 1
ids = tp.make_prompts(cfg, batch, gen)
oc = cfg["optimizer"]
opt = torch.optim.AdamW(model.parameters(), lr=oc["lr"], betas=tuple(oc["betas"]), eps=oc["eps"],
                        weight_decay=oc["weight_decay"], amsgrad=oc["amsgrad"])
weights = cfg["stage1_loss"]["weights"]
model.train()
print(json.dumps({"ready": True, "threads": tp.thread_report()}), flush=True)
for line in sys.stdin:
    if line.strip() != "step":
        break
    t0, c0 = time.perf_counter(), time.process_time()
    total, _ = model.stage1_loss(img, ids, weights)
    total.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    print(json.dumps({"ms": (time.perf_counter() - t0) * 1e3, "cpuMs": (time.process_time() - c0) * 1e3}), flush=True)
