# One-off probe: which attention entry points torch offers, and whether flash
# attention aligns causality bottom-right with GQA (new tokens over a cache).
import os, torch, time
for name in ["_flash_attention_forward", "_scaled_dot_product_flash_attention",
             "_efficient_attention_forward", "_scaled_dot_product_efficient_attention"]:
    print(getattr(torch.ops.aten, name).default._schema)
inc = os.path.join(os.path.dirname(torch.__file__), "include/ATen/ops")
for h in ["_scaled_dot_product_flash_attention.h", "_flash_attention_forward.h"]:
    txt = open(os.path.join(inc, h)).read()
    for line in txt.splitlines():
        if "inline" in line and "TORCH_API" in line or ("inline" in line and "_flash" in line):
            print(h, line.strip()[:400])
torch.manual_seed(0)
dev = "cuda"
def ref(q, k, v, scale):
    L, S = q.shape[2], k.shape[2]
    mask = torch.ones(L, S, dtype=torch.bool, device=dev).tril(S - L)
    g = q.shape[1] // k.shape[1]
    return torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float().repeat_interleave(g, 1), v.float().repeat_interleave(g, 1), attn_mask=mask, scale=scale)
for L, S in [(32, 4096 + 32), (256, 512 + 256), (1, 1000), (300, 300)]:
    q = torch.randn(1, 32, L, 128, device=dev, dtype=torch.bfloat16)
    k = torch.randn(1, 8, S, 128, device=dev, dtype=torch.bfloat16)
    v = torch.randn(1, 8, S, 128, device=dev, dtype=torch.bfloat16)
    scale = 128 ** -0.5
    r = ref(q, k, v, scale)
    o = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, True, False, scale=scale)[0]
    print("sdpa_flash L", L, "S", S, "max diff", (o.float() - r).abs().max().item())
    o2 = torch.ops.aten._flash_attention_forward(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                 None, None, L, S, 0.0, True, False, scale=scale)[0]
    print("flash_fwd L", L, "S", S, "max diff", (o2.transpose(1, 2).float() - r).abs().max().item())
def bench(fn, n=50):
    for _ in range(5): fn()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n): fn()
    torch.cuda.synchronize(); return (time.perf_counter() - t) / n * 1e3
for S in [4096, 16384]:
    L = 32
    q = torch.randn(1, 32, L, 128, device=dev, dtype=torch.bfloat16)
    k = torch.randn(1, 8, S + L, 128, device=dev, dtype=torch.bfloat16)
    v = torch.randn(1, 8, S + L, 128, device=dev, dtype=torch.bfloat16)
    mask = torch.ones(L, S + L, dtype=torch.bool, device=dev).tril(S)
    print(S, "flash lower-right ms", bench(lambda: torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, True, False)))
    print(S, "sdpa bool mask gqa ms", bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)))
    qd = torch.randn(1, 32, 1, 128, device=dev, dtype=torch.bfloat16)
    def mm():
        qg = qd.view(1, 8, 4, 128)
        s = torch.matmul(qg, k.transpose(-2, -1))
        p = torch.softmax(s, -1, dtype=torch.float).to(torch.bfloat16)
        return torch.matmul(p, v)
    print(S, "decode matmul ms", bench(mm))
    print(S, "decode flash ms", bench(lambda: torch.ops.aten._scaled_dot_product_flash_attention(qd, k, v, 0.0, True, False)))
