#!/usr/bin/env python3
"""Export a pretrained torchvision trunk (no classifier) to ONNX for nst.

usage: scripts/export_backbone.py [ARCH] [--out FILE] [--opset 17]

ARCH is a torchvision model name (default vgg19): vgg19, vgg16, alexnet,
resnet18, resnet50, squeezenet1_1, mobilenet_v2, mobilenet_v3_large,
densenet121, googlenet, inception_v3, efficientnet_b0, regnet_y_400mf,
shufflenet_v2_x1_0, convnext_tiny.

Needs torch and torchvision (pip install torch torchvision); torchvision
downloads the ImageNet weights (DEFAULT) on first use. onnx and onnxruntime,
when installed, are used to check the file.

What it writes: one input "input" of shape [1, 3, height, width], height and
width dynamic, ai.onnx opset 17 (TorchScript exporter), weights inline.

- vgg19, vgg16, alexnet: `model.features` with one output "features". nst
  names the layers from the structure: conv1_1, relu1_1, ..., pool5 (for
  AlexNet conv1_1, relu1_1, pool1, conv2_1, ..., relu3_3, pool3); the output's
  name "features" is a layer name too.
- the others: the trunk up to its last convolutional stage, with one graph
  output per resolution, named after torchvision's modules (resnet: relu,
  layer1 ... layer4). nst takes graph output names as layer names, so a
  config reads these names whatever torch version exported the file.

GoogLeNet and Inception v3 are exported without their input transform
(transform_input), which only turns ImageNet normalisation into mean 0.5,
std 0.5: the printed preprocess does that instead.

The script prints the layers (name, channels, stride, size at 224x224) and a
configuration: the preprocessing read from the weights' transforms, and the
recommended content and style layers, chosen by analogy with Gatys et al.'s
VGG layers (style at the first four resolutions, content at stride 8), not
tuned. configs/README.md has the keys.
"""

import argparse
import hashlib
import inspect
import os
import sys

# Graph outputs per architecture: torchvision module name -> output name.
# Modules are given as create_feature_extractor's return nodes (a module
# name stands for the module's output).
TAPS = {
    "resnet18": [("relu", "relu"), ("layer1", "layer1"), ("layer2", "layer2"), ("layer3", "layer3"), ("layer4", "layer4")],
    "resnet50": [("relu", "relu"), ("layer1", "layer1"), ("layer2", "layer2"), ("layer3", "layer3"), ("layer4", "layer4")],
    "squeezenet1_1": [("features.1", "conv1"), ("features.4", "fire3"), ("features.7", "fire5"),
                      ("features.10", "fire7"), ("features.12", "fire9")],
    "mobilenet_v2": [("features.1", "stage1"), ("features.3", "stage2"), ("features.6", "stage3"),
                     ("features.13", "stage4"), ("features.18", "stage5")],
    "mobilenet_v3_large": [("features.1", "stage1"), ("features.3", "stage2"), ("features.6", "stage3"),
                           ("features.12", "stage4"), ("features.16", "stage5")],
    "efficientnet_b0": [("features.1", "stage1"), ("features.2", "stage2"), ("features.3", "stage3"),
                        ("features.5", "stage4"), ("features.8", "stage5")],
    "densenet121": [("features.relu0", "relu0"), ("features.denseblock1", "denseblock1"),
                    ("features.denseblock2", "denseblock2"), ("features.denseblock3", "denseblock3"),
                    ("features.norm5", "norm5")],
    "googlenet": [("conv1", "conv1"), ("conv3", "conv3"), ("inception3b", "inception3b"),
                  ("inception4e", "inception4e"), ("inception5b", "inception5b")],
    "inception_v3": [("Conv2d_2b_3x3", "Conv2d_2b_3x3"), ("Conv2d_4a_3x3", "Conv2d_4a_3x3"),
                     ("Mixed_5d", "Mixed_5d"), ("Mixed_6e", "Mixed_6e"), ("Mixed_7c", "Mixed_7c")],
    "regnet_y_400mf": [("stem", "stem"), ("trunk_output.block1", "block1"), ("trunk_output.block2", "block2"),
                       ("trunk_output.block3", "block3"), ("trunk_output.block4", "block4")],
    "shufflenet_v2_x1_0": [("conv1", "conv1"), ("maxpool", "maxpool"), ("stage2", "stage2"),
                           ("stage3", "stage3"), ("stage4", "stage4"), ("conv5", "conv5")],
    "convnext_tiny": [("features.0", "stem"), ("features.1", "stage1"), ("features.3", "stage2"),
                      ("features.5", "stage3"), ("features.7", "stage4")],
}

# Chains exported whole as model.features, named by nst from the structure.
CHAINS = {
    "vgg19": ("relu4_2", ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]),
    "vgg16": ("relu4_2", ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]),
    "alexnet": ("relu2_1", ["relu1_1", "relu2_1", "relu3_1", "relu3_3"]),
}

ARCHS = list(CHAINS) + list(TAPS)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("arch", nargs="?", choices=ARCHS, default="vgg19", metavar="ARCH",
                   help="torchvision model: " + ", ".join(ARCHS))
    p.add_argument("--arch", dest="arch_flag", choices=ARCHS, help=argparse.SUPPRESS)  # the old spelling
    p.add_argument("--out", help="output file (default models/weights/ARCH-torchvision.onnx)")
    p.add_argument("--opset", type=int, default=17,
                   help="ai.onnx opset (default 17, the opset nst runs graphs at)")
    args = p.parse_args()
    if args.arch_flag:
        args.arch = args.arch_flag
    return args


def recommended(arch, names):
    """Content layer and style layers: by analogy with Gatys et al."""
    if arch in CHAINS:
        return CHAINS[arch]
    return names[2], names[:4]


def build(arch, torch, torchvision):
    """The module to export, its output names, and the weights."""
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    model = torchvision.models.get_model(arch, weights=weights).eval()
    if arch in CHAINS:
        return model.features, ["features"], weights, model

    if hasattr(model, "transform_input"):
        model.transform_input = False  # done by the printed preprocess instead
    from torchvision.models.feature_extraction import create_feature_extractor

    taps = TAPS[arch]
    extractor = create_feature_extractor(model, return_nodes={module: name for module, name in taps})
    names = [name for _, name in taps]

    class Taps(torch.nn.Module):
        """Returns the taps as a tuple, in order, for output_names."""

        def __init__(self):
            super().__init__()
            self.extractor = extractor

        def forward(self, x):
            out = self.extractor(x)
            return tuple(out[n] for n in names)

    return Taps().eval(), names, weights, model


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

    module, names, weights, model = build(args.arch, torch, torchvision)
    # The size is a placeholder: height and width are exported dynamic.
    example = torch.rand(1, 3, 224, 224)
    dynamic = {"input": {2: "height", 3: "width"}}
    for n in names:
        dynamic[n] = {2: f"{n}_height", 3: f"{n}_width"}
    kwargs = dict(
        input_names=["input"],
        output_names=names,
        dynamic_axes=dynamic,
        opset_version=args.opset,
        do_constant_folding=True,
    )
    # torch 2.5 added a dynamo-based exporter (the default from 2.9); the
    # TorchScript one honours dynamic_axes and output_names, which nst's
    # tests mimic.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(module, (example,), out, **kwargs)
        # Strides from the growth between two sizes 672 apart (672 is a
        # multiple of every stride up to 32), whatever the windows round.
        shapes = [tuple(t.shape) for t in as_tuple(module(example))]
        larger = [tuple(t.shape) for t in as_tuple(module(torch.rand(1, 3, 224 + 672, 224 + 672)))]

    check(out, module, torch)

    digest = hashlib.sha256()
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    transform = weights.transforms()
    mean = [round(float(v), 6) for v in transform.mean]
    std = [round(float(v), 6) for v in transform.std]
    if getattr(model, "transform_input", None) is False and args.arch in ("googlenet", "inception_v3"):
        mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    print(f"wrote {out} ({os.path.getsize(out)} bytes, sha256 {digest.hexdigest()})")
    if args.arch not in CHAINS:
        print("layers (graph outputs; channels and stride at 224x224):")
        for n, s, big in zip(names, shapes, larger):
            grow = big[2] - s[2]
            stride = 672 // grow if grow > 0 and 672 % grow == 0 else "?"
            print(f"  {n:16} {s[1]:5d} channels, stride {stride}, {s[2]}x{s[3]} at 224x224")
    else:
        print("layers: conv1_1, relu1_1, ... named from the structure (nst model inspect FILE lists them), and features")
    content, style = recommended(args.arch, names)
    print("configuration (RGB on [0, 1], normalisation from the weights' transforms; layers recommended by analogy")
    print("with Gatys et al.'s VGG choice, not tuned):")
    print("  model:")
    print(f"    path: {os.path.relpath(out, root) if out.startswith(root) else out}")
    print(f"    arch: {args.arch if args.arch in ('vgg19', 'vgg16') else 'auto'}")
    print(f"    preprocess: {{mean: {mean}, std: {std}, scale: 1.0, channels: rgb}}")
    print("  layers:")
    print(f"    content: {{{content}: 1.0}}")
    print("    style: {" + ", ".join(f"{s}: {round(1 / len(style), 4)}" for s in style) + "}")


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def check(path, module, torch):
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
        want = [t.numpy() for t in as_tuple(module(x))]
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    worst = 0.0
    for g, w in zip(got, want):
        if g.shape != w.shape:
            sys.exit(f"export_backbone: onnxruntime output {g.shape} differs from torch's {w.shape}")
        worst = max(worst, float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-12)))
    print(f"onnxruntime matches torch at 97x131: max relative difference {worst:.2e}")
    if worst > 1e-4:
        sys.exit(f"export_backbone: onnxruntime differs from torch by {worst:.2e}")


if __name__ == "__main__":
    main()
