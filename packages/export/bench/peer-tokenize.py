# Tokenize server over torch_peer.py's own BenchS model: one PyTorch bench-s tokenize (batch 32, no grad) per
# "tokenize" line on stdin, its wall and CPU milliseconds on stdout, so onnx-variants.ts can alternate it batch
# by batch with ONNX Runtime's on a shared machine. Usage: python3 peer-tokenize.py <torch_peer.py> <threads>
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
model = tp.BenchS(cfg).eval()
im = cfg["image"]
img = torch.rand(batch, im["channels"], im["size"], im["size"], generator=gen) * 2 - 1
print(json.dumps({"ready": True, "batch": batch, "threads": tp.thread_report(), "openblas": tp.OPENBLAS_PATH}),
      flush=True)
with torch.no_grad():
    for line in sys.stdin:
        if line.strip() != "tokenize":
            break
        c0, t0 = time.process_time(), time.perf_counter()
        model.tokenize(img)
        print(json.dumps({"ms": (time.perf_counter() - t0) * 1e3, "cpu_ms": (time.process_time() - c0) * 1e3}),
              flush=True)
