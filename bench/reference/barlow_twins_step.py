"""One Barlow Twins training step in PyTorch, the reference for bench/backend.bench.ts (CPU) and
bench/gpu.bench.ts (`--device cuda`, the ViT-S/16 step at 224 px, 64 images × 2 views).

The models mirror the TypeScript benchmark's: a timm-style ViT (conv patch embedding, pre-norm
blocks, exact-erf GELU, CLS token pooled) or a ResNet-18 (BasicBlocks, BatchNorm), a 3-layer
projector (Linear, BatchNorm1d, ReLU) and the Barlow Twins loss, trained with Adam.
Prints one JSON line: {"model", "device", "threads", "images_per_s", "step_ms", "cpu_ms"}, or
{"error"} with exit status 3 when the device asked for is not available.
"""
import argparse
import json
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.act = nn.GELU()

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (d // h) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, image, patch, dim, depth, heads):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dim = dim

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dim = 512

    def forward(self, x):
        return self.layers(self.stem(x)).mean(dim=(2, 3))


def projector(dim, hidden):
    # As task-barlow-twins builds it: no biases (the paper's projector).
    return nn.Sequential(
        nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, hidden, bias=False),
    )


def barlow_twins_loss(z1, z2, lambd=0.005):
    n = z1.shape[0]
    z1 = (z1 - z1.mean(0)) / z1.std(0, unbiased=False).add(1e-5)
    z2 = (z2 - z2.mean(0)) / z2.std(0, unbiased=False).add(1e-5)
    c = z1.T @ z2 / n
    diag = torch.diagonal(c)
    return (diag - 1).pow(2).sum() + lambd * (c.pow(2).sum() - diag.pow(2).sum())


MODELS = {
    "vit-tiny": dict(kind="vit", image=64, patch=8, dim=192, depth=4, heads=3, batch=16),
    "deit-tiny": dict(kind="vit", image=224, patch=16, dim=192, depth=12, heads=3, batch=8),
    "resnet18": dict(kind="resnet", image=128, batch=8),
    "vit-small": dict(kind="vit", image=224, patch=16, dim=384, depth=12, heads=6, batch=64),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--projector", type=int, default=512)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, help="images per view (default: the model's)")
    parser.add_argument("--image", type=int, help="image size (default: the model's)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": f"PyTorch {torch.__version__} sees no CUDA device"}))
        raise SystemExit(3)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = dict(MODELS[args.model])
    spec["batch"] = args.batch or spec["batch"]
    spec["image"] = args.image or spec["image"]
    backbone = ViT(spec["image"], spec["patch"], spec["dim"], spec["depth"], spec["heads"]) if spec["kind"] == "vit" else ResNet18()
    device = torch.device(args.device)
    model = nn.Sequential(backbone, projector(backbone.dim, args.projector)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    b, s = spec["batch"], spec["image"]
    v1, v2 = torch.randn(b, 3, s, s, device=device), torch.randn(b, 3, s, s, device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = barlow_twins_loss(model(v1), model(v2))
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    seconds = cpu = float("inf")  # the fastest step: the machine may be shared
    for _ in range(args.steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        seconds = min(seconds, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    # loss.item() in step() waits for the device, so a CUDA step is timed to its end.
    print(json.dumps({"model": args.model, "device": args.device, "threads": args.threads, "images_per_s": b / seconds, "step_ms": seconds * 1000, "cpu_ms": cpu * 1000}))


if __name__ == "__main__":
    main()
