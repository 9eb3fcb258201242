# One-off probe (H100): (1) how fast cuBLAS runs the 7B projections at M=1 and
# M=48 in bfloat16; (2) whether flash attention with seqused_k (lengths in a
# device tensor) is right, fast, and replayable from a CUDA graph.
import torch, time
torch.manual_seed(0)
dev, bf = "cuda", torch.bfloat16
def timed(fn, n=200):
    for _ in range(10): fn()
    torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(n): fn()
    e.record(); torch.cuda.synchronize(); return s.elapsed_time(e) / n
shapes = {"qkv": (6144, 4096), "o": (4096, 4096), "gate_up": (28672, 4096), "down": (4096, 14336), "lm_head": (32768, 4096)}
for m in [1, 48]:
    tot = 0
    for name, (n, k) in shapes.items():
        w = torch.randn(n, k, device=dev, dtype=bf); x = torch.randn(m, k, device=dev, dtype=bf)
        ms = timed(lambda: torch.nn.functional.linear(x, w))
        ms_t = timed(lambda: torch.matmul(x, w.t()))
        wt = w.t().contiguous()
        ms_kn = timed(lambda: torch.matmul(x, wt))
        print(f"M={m} {name} {n}x{k}: linear {ms*1e3:.1f} us ({n*k*2/ms/1e9:.0f} GB/s), x@wT(KN layout) {ms_kn*1e3:.1f} us ({n*k*2/ms_kn/1e9:.0f} GB/s)")
        per_layer = 1 if name == "lm_head" else 32
        tot += ms * per_layer
    print(f"M={m}: all projections of a 32-layer step {tot:.2f} ms")
# flash with seqused_k over a capacity buffer, bottom-right causal
C, T, H, HKV, D = 20480, 48, 32, 8, 128
kbuf = torch.randn(1, HKV, C, D, device=dev, dtype=bf); vbuf = torch.randn(1, HKV, C, D, device=dev, dtype=bf)
q = torch.randn(1, T, H, D, device=dev, dtype=bf)
def flash(length_t, q=q):
    k = kbuf[0].transpose(0, 1); v = vbuf[0].transpose(0, 1)  # [C, Hkv, D] strided
    cq = torch.tensor([0, T], device=dev, dtype=torch.int32); ck = torch.tensor([0, C], device=dev, dtype=torch.int32)
    return torch.ops.aten._flash_attention_forward(q[0], k, v, cq, ck, T, C, 0.0, True, False, scale=D ** -0.5, seqused_k=length_t)[0]
for length in [100, 4096 + T, 16384 + T]:
    L = torch.tensor([length], device=dev, dtype=torch.int32)
    out = flash(L)
    qq = q.transpose(1, 2).float(); kk = kbuf[:, :, :length].float().repeat_interleave(4, 1); vv = vbuf[:, :, :length].float().repeat_interleave(4, 1)
    mask = torch.ones(T, length, dtype=torch.bool, device=dev).tril(length - T)
    ref = torch.nn.functional.scaled_dot_product_attention(qq, kk, vv, attn_mask=mask, scale=D ** -0.5).transpose(1, 2)[0]
    print("seqused_k length", length, "max diff", (out.float() - ref).abs().max().item(), "ms", timed(lambda: flash(L), 50))
# the same inside a CUDA graph, lengths changed between replays
L = torch.tensor([4096 + T], device=dev, dtype=torch.int32)
cq = torch.tensor([0, T], device=dev, dtype=torch.int32); ck = torch.tensor([0, C], device=dev, dtype=torch.int32)
k = kbuf[0].transpose(0, 1); v = vbuf[0].transpose(0, 1)
s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    torch.ops.aten._flash_attention_forward(q[0], k, v, cq, ck, T, C, 0.0, True, False, scale=D ** -0.5, seqused_k=L)
torch.cuda.current_stream().wait_stream(s)
g = torch.cuda.CUDAGraph()
with torch.cuda.graph(g):
    gout = torch.ops.aten._flash_attention_forward(q[0], k, v, cq, ck, T, C, 0.0, True, False, scale=D ** -0.5, seqused_k=L)[0]
for length in [200, 9000, 16384 + T]:
    L.fill_(length); g.replay(); torch.cuda.synchronize()
    print("graph replay length", length, "max diff vs eager", (gout - flash(torch.tensor([length], device=dev, dtype=torch.int32))).abs().max().item())
# matmul attention over the capacity (what the graphs do now), for comparison
qg = q[0].transpose(0, 1).reshape(HKV, 4 * T, D)
mask = torch.ones(1, 4 * T, C, dtype=torch.bool, device=dev)
def mm():
    sc = torch.matmul(qg, kbuf[0].transpose(-2, -1)).masked_fill_(mask.logical_not(), float("-inf"))
    return torch.matmul(torch.softmax(sc, -1, dtype=torch.float).to(bf), vbuf[0])
print("matmul attention over capacity", C, "ms", timed(mm, 50))
