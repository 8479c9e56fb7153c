#!/usr/bin/env python3
"""Export torchvision's pretrained VGG19 or VGG16 feature extractor to ONNX for nst.

usage: scripts/export_backbone.py [--arch vgg19|vgg16] [--out FILE] [--opset 17]

Needs torch and torchvision (pip install torch torchvision); torchvision
downloads the ImageNet weights (IMAGENET1K_V1) on first use. onnx and
onnxruntime, when installed, are used to check the file.

What it writes: `vgg.features` only (convolutions, ReLUs, max pooling; no
classifier), one input "input" of shape [1, 3, height, width] with height and
width dynamic, one output "features", ai.onnx opset 17, weights inline. This
is the form nst's models.Load names conv1_1 ... pool5 from the structure.

Configuration for the file. torchvision's VGG weights expect RGB values in
[0, 1] normalised with the ImageNet mean and standard deviation; the script
prints the values it reads from the weights' own transforms, which are:

  model:
    path: models/weights/vgg19-torchvision.onnx
    arch: vgg19
    preprocess: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1.0, channels: rgb}

(configs/README.md has the keys: the model's input is (x*scale - mean)/std
per channel, x RGB in [0, 1]).
"""

import argparse
import hashlib
import inspect
import os
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["vgg19", "vgg16"], default="vgg19")
    p.add_argument("--out", help="output file (default models/weights/ARCH-torchvision.onnx)")
    p.add_argument("--opset", type=int, default=17,
                   help="ai.onnx opset (default 17, the opset nst runs graphs at)")
    return p.parse_args()


def main():
    args = parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        sys.exit(f"export_backbone: {e}; install torch and torchvision (pip install torch torchvision)")

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args.out or os.path.join(root, "models", "weights", f"{args.arch}-torchvision.onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    weights_enum = {"vgg19": torchvision.models.VGG19_Weights, "vgg16": torchvision.models.VGG16_Weights}[args.arch]
    weights = weights_enum.IMAGENET1K_V1
    model = getattr(torchvision.models, args.arch)(weights=weights)
    features = model.features.eval()

    # The size is a placeholder: height and width are exported dynamic.
    example = torch.rand(1, 3, 224, 224)
    kwargs = dict(
        input_names=["input"],
        output_names=["features"],
        dynamic_axes={"input": {2: "height", 3: "width"}, "features": {2: "features_height", 3: "features_width"}},
        opset_version=args.opset,
        do_constant_folding=True,
    )
    # torch 2.5 added a dynamo-based exporter (the default from 2.9); the
    # TorchScript one honours dynamic_axes and names nodes /0/Conv, which is
    # what nst's tests mimic.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(features, (example,), out, **kwargs)

    check(out, features, torch)

    digest = hashlib.sha256()
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    transform = weights.transforms()
    mean = [round(float(v), 6) for v in transform.mean]
    std = [round(float(v), 6) for v in transform.std]
    print(f"wrote {out} ({os.path.getsize(out)} bytes, sha256 {digest.hexdigest()})")
    print("configuration (RGB on [0, 1], ImageNet normalisation, from the weights' transforms):")
    print("  model:")
    print(f"    path: {os.path.relpath(out, root) if out.startswith(root) else out}")
    print(f"    arch: {args.arch}")
    print(f"    preprocess: {{mean: {mean}, std: {std}, scale: 1.0, channels: rgb}}")


def check(path, features, torch):
    """Check the file with onnx and, at an odd size, against torch with onnxruntime, when installed."""
    try:
        import onnx
    except ImportError:
        print("onnx not installed: skipping the model check")
    else:
        onnx.checker.check_model(onnx.load(path))
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: skipping the numerical check")
        return
    x = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        want = features(x).numpy()
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))
    print(f"onnxruntime matches torch at 97x131: max relative difference {err:.2e}")
    if got.shape != want.shape or err > 1e-4:
        sys.exit(f"export_backbone: onnxruntime output {got.shape} differs from torch {want.shape} by {err:.2e}")


if __name__ == "__main__":
    main()
