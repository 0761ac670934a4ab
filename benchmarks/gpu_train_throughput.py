"""Training throughput (images/s) of the paper's model on a GPU, for benchmarks/README.md.

The lent GPU machine has PyTorch but no TensorFlow (its Python is 3.12; TF 2.15 needs 3.10 and
cannot be carried there), so this is the same architecture in PyTorch: torchvision's
MobileNetV2 (width 1.0) + Schneider's head (GAP, Dense 1024, 1024, 512, softmax), Adam 1e-4,
in-memory random tensors (the compute bound; no input pipeline). Run: python3 THIS_FILE.
"""
import json
import sys
import time

import torch
import torchvision


def model(num_classes=20):
    backbone = torchvision.models.mobilenet_v2(weights=None).features
    head = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(1280, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 512), torch.nn.ReLU(), torch.nn.Linear(512, num_classes))
    return torch.nn.Sequential(backbone, head)


def images_per_second(device, size, batch, steps, dtype=None, channels_last=True):
    net = model().to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, size, size, device=device)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 20, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(5):  # warm-up: cuDNN algorithm choice, allocator
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


if __name__ == "__main__":
    results = {"torch": torch.__version__}
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        results["gpu"] = torch.cuda.get_device_name(0)
        for size, batch in ((64, 32), (224, 32), (224, 256)):
            results[f"gpu_fp32_{size}px_b{batch}"] = images_per_second(gpu, size, batch, 50)
            results[f"gpu_bf16_{size}px_b{batch}"] = images_per_second(gpu, size, batch, 50,
                                                                       torch.bfloat16)
    torch.set_num_threads(2)  # the same 2 cores as the CPU figures of the other benchmarks
    for size in (64, 224):
        results[f"cpu2_fp32_{size}px_b32"] = images_per_second(torch.device("cpu"), size, 32, 5,
                                                               channels_last=False)
    json.dump(results, sys.stdout, indent=1)
    print()
