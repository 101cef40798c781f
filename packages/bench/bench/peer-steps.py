# Step server over torch_peer.py's own BenchS model: one PyTorch train step per "step" line on stdin, its
# milliseconds on stdout, so interleaved-train.ts can alternate it step by step with ours on a shared machine.
# Usage: python3 peer-steps.py <path of torch_peer.py> <threads>
import json
import os
import sys
import time

# torch_peer.py's model and seeded batch, loaded as @qlip/export's peer scripts load them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../export/bench"))
from peer_model import load_peer  # noqa: E402

tp, torch, cfg, model, img, gen = load_peer(sys.argv[1], sys.argv[2])
batch = cfg["benchmark"]["batch"]
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
