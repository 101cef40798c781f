# Tokenize server over torch_peer.py's own BenchS model: one PyTorch bench-s tokenize (batch 32, no grad) per
# "tokenize" line on stdin, its wall and CPU milliseconds on stdout, so onnx-variants.ts can alternate it batch
# by batch with ONNX Runtime's on a shared machine. Usage: python3 peer-tokenize.py <torch_peer.py> <threads>
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_model import load_peer  # noqa: E402

tp, torch, cfg, model, img, _ = load_peer(sys.argv[1], sys.argv[2])
model.eval()
batch = cfg["benchmark"]["batch"]
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
