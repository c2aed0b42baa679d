"""Networks: ResNet backbones with a stride-16 end, the CAM classifier, and IRNet.

Every backbone exposes five levels as ``stem`` (conv1-bn1-relu-maxpool, stride 4), ``layer1``
(stride 4), ``layer2`` (8), ``layer3`` (16) and ``layer4`` (16: its downsampling stride is 1),
with their channel counts in ``channels``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck


class WeightsError(FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine."""


def _layer(block, inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or inplanes != planes * block.expansion:
        down = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
            nn.BatchNorm2d(planes * block.expansion),
        )
    layers = [block(inplanes, planes, stride, down)]
    layers += [block(planes * block.expansion, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetBackbone(nn.Module):
    """A ResNet whose children are named as torchvision's (conv1 ... layer4)."""

    def __init__(self, block, layers: list[int], widths: list[int], stem: int, last_stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans, inplanes = [stem], stem
        for i, (n, w) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else (last_stride if i == 3 else 2)
            setattr(self, f"layer{i + 1}", _layer(block, inplanes, w, n, stride))
            inplanes = w * block.expansion
            chans.append(inplanes)
        self.channels = chans
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five feature levels (strides 4, 4, 8, 16, 16)."""
        x1 = self.stem(x)
        x2 = self.layer1(x1)
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        return [x1, x2, x3, x4, self.layer4(x4)]


ARCHS = {
    # name: (block, blocks per stage, widths, stem channels); resnet50/18 load torchvision weights
    "resnet50": (Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], 64),
    "resnet18": (BasicBlock, [2, 2, 2, 2], [64, 128, 256, 512], 64),
    "resnet_tiny": (BasicBlock, [1, 1, 1, 1], [32, 64, 128, 256], 32),
}


# torchvision's ImageNet weights of the backbones that have them (``pretrained: imagenet``)
IMAGENET_WEIGHTS = {"resnet50": "ResNet50_Weights.IMAGENET1K_V1", "resnet18": "ResNet18_Weights.IMAGENET1K_V1"}


def imagenet_cache_path(arch: str) -> Path:
    """Where torchvision keeps the ImageNet weights of ``arch``: the torch hub cache
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``)."""
    from torchvision.models import get_weight

    if arch not in IMAGENET_WEIGHTS:
        raise WeightsError(
            f"backbone '{arch}' has no ImageNet weights in torchvision (those that do: {', '.join(IMAGENET_WEIGHTS)})"
        )
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(get_weight(IMAGENET_WEIGHTS[arch]).url).name


def imagenet_state(arch: str) -> dict:
    """torchvision's ImageNet weights of ``arch`` through its weights API: from the torch cache,
    downloaded into it when absent; offline, an error naming the cache path."""
    from torchvision.models import get_weight

    path = imagenet_cache_path(arch)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        return get_weight(IMAGENET_WEIGHTS[arch]).get_state_dict(progress=True)
    except OSError as err:  # URLError and socket errors are OSErrors
        raise WeightsError(
            f"torchvision's ImageNet weights for '{arch}' are not in the torch cache ({path}) and "
            f"could not be downloaded ({err}). On a machine without internet, copy "
            f"{path.name} there, or set the path of a weights file instead of 'imagenet'"
        ) from err


def load_state(path: str | Path, arch: str | None = None) -> dict:
    """A state dict from a local file (a bare state dict or a checkpoint holding ``model``), or,
    for ``path`` 'imagenet', torchvision's ImageNet weights of ``arch``."""
    if str(path) == "imagenet":
        return imagenet_state(arch)
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"pretrained weights not found at {path}. Put the file there (for torchvision "
            f"ResNets: the ImageNet .pth from the torch cache, ~/.cache/torch/hub/checkpoints), "
            f"or set the model's 'pretrained' to null to train from scratch."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state) if isinstance(state, dict) else state


def build_backbone(arch: str, pretrained: str | None = None, last_stride: int = 1) -> ResNetBackbone:
    """A backbone by name; ``pretrained`` is a local weights file, 'imagenet' (torchvision's
    weights through the torch cache) or None (from scratch)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone '{arch}' (known: {', '.join(ARCHS)})")
    block, layers, widths, stem = ARCHS[arch]
    net = ResNetBackbone(block, layers, widths, stem, last_stride)
    if pretrained:
        state = {k: v for k, v in load_state(pretrained, arch).items() if not k.startswith("fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing:
            raise WeightsError(f"{pretrained}: weights do not fit backbone '{arch}' (missing {missing[:3]}...)")
    return net


def load_cam_backbone(backbone: ResNetBackbone, cam_model: str | Path) -> ResNetBackbone:
    """Load the backbone of a trained CAM network (its ``backbone.*`` weights) into ``backbone``:
    how IRNet and the supervised models start without ImageNet weights."""
    state = load_state(cam_model)
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")})
    return backbone


def frozen_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by torchvision's FrozenBatchNorm2d (running statistics and
    affine parameters as buffers), as torchvision does for pretrained detection backbones: a
    later ``train()`` cannot make them learn. Returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, frozen_copy(child))
        else:
            frozen_batchnorm(child)
    return module


def frozen_copy(bn: nn.BatchNorm2d) -> nn.Module:
    """A FrozenBatchNorm2d with the statistics and affine weights of ``bn``."""
    from torchvision.ops import FrozenBatchNorm2d

    frozen = FrozenBatchNorm2d(bn.num_features, eps=bn.eps)
    for k in ("weight", "bias", "running_mean", "running_var"):
        getattr(frozen, k).copy_(getattr(bn, k).detach())
    return frozen


class CAMNet(nn.Module):
    """Backbone + global average pooling + bias-free 1x1 classifier (METHOD.md 1).

    With ImageNet weights (``pretrained``) it follows the public network: the gradient stops
    after ``layer2`` (the stem, ``layer1`` and ``layer2`` do not train), every BatchNorm keeps its
    running statistics while its affine weights train (except the stem's ``bn1``, frozen with
    ``conv1``), and the classifier starts from PyTorch's default initialisation. From scratch
    everything trains (batch statistics) and the classifier starts from ``kaiming_normal_``.
    """

    def __init__(self, backbone: ResNetBackbone, num_classes: int, pretrained: bool):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Conv2d(backbone.channels[-1], num_classes, 1, bias=False)
        if not pretrained:
            nn.init.kaiming_normal_(self.classifier.weight)
        self.pretrained = pretrained
        if pretrained:
            for p in (*backbone.conv1.parameters(), *backbone.bn1.parameters()):
                p.requires_grad_(False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        x = b.layer2(b.layer1(b.stem(x)))
        if self.pretrained:
            x = x.detach()
        return b.layer4(b.layer3(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, C)."""
        f = self.features(x)
        return self.classifier(f.mean(dim=(2, 3), keepdim=True)).flatten(1)

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class activation maps relu(w_c . f): (B, C, h/16, w/16)."""
        return F.relu(F.conv2d(self.features(x), self.classifier.weight))

    def param_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(backbone parameters that train, classifier parameters)."""
        if self.pretrained:  # the stages before the detach get no gradient
            b = self.backbone
            frozen = {id(p) for m in (b.conv1, b.bn1, b.layer1, b.layer2) for p in m.parameters()}
            backbone = [p for p in b.parameters() if id(p) not in frozen and p.requires_grad]
        else:
            backbone = list(self.backbone.parameters())
        return backbone, list(self.classifier.parameters())

    def train(self, mode: bool = True):
        super().train(mode)
        if self.pretrained:  # fixed statistics, trainable affine weights (the public FixedBatchNorm)
            for m in self.backbone.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self


def _conv_gn(cin: int, cout: int, groups: int, relu: bool = True) -> list[nn.Module]:
    """1x1 convolution + GroupNorm (+ ReLU): the unit of IRNet's branches."""
    layers = [nn.Conv2d(cin, cout, 1, bias=False), nn.GroupNorm(groups, cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class IRNet(nn.Module):
    """Backbone + class-boundary branch + displacement-field branch (METHOD.md 4).

    The backbone is frozen, as in the public network, unless ``train_backbone``: then its weights
    train with the branches. Its BatchNorm keeps its running statistics either way.
    """

    def __init__(self, backbone: ResNetBackbone, train_backbone: bool = False):
        super().__init__()
        self.backbone = backbone
        self.train_backbone = train_backbone
        for p in self.backbone.parameters():
            p.requires_grad_(train_backbone)
        ch = backbone.channels
        # each level: 1x1 conv + GroupNorm, upsampled to the finer level where needed, then ReLU
        # (the public order: upsampling before the ReLU)
        self.edge = nn.ModuleList([nn.Sequential(*_conv_gn(c, 32, 4, relu=False)) for c in ch])
        self.edge_out = nn.Conv2d(32 * len(ch), 1, 1, bias=True)
        dp_w = [64, 128, 256, 256, 256]
        self.dp = nn.ModuleList(
            [nn.Sequential(*_conv_gn(c, w, 8 if w == 64 else 16, relu=False)) for c, w in zip(ch, dp_w)]
        )
        self.dp_fuse8 = nn.Sequential(*_conv_gn(768, 256, 16, relu=False))
        self.dp_out = nn.Sequential(*_conv_gn(448, 256, 16), nn.Conv2d(256, 2, 1, bias=False))
        # mean displacement over the training images, subtracted at inference (METHOD.md 4)
        self.register_buffer("mean_shift", torch.zeros(2))

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # running statistics, no updates
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Boundary logits (B, 1, h4, w4) and displacement (B, 2, h4, w4), stride-4 pixels (dy, dx)."""
        if self.train_backbone and torch.is_grad_enabled():
            feats = self.backbone.levels(x)
        else:
            with torch.no_grad():
                feats = [f.detach() for f in self.backbone.levels(x)]
        size4 = feats[1].shape[-2:]

        def up_relu(t, s):
            t = t if t.shape[-2:] == s else F.interpolate(t, s, mode="bilinear", align_corners=False)
            return F.relu(t)

        edge = torch.cat([up_relu(m(f), size4) for m, f in zip(self.edge, feats)], 1)
        edge = self.edge_out(edge)
        size8 = feats[2].shape[-2:]
        d = [up_relu(m(f), size4 if i < 2 else size8) for i, (m, f) in enumerate(zip(self.dp, feats))]
        fused8 = self.dp_fuse8(torch.cat(d[2:], 1))
        disp = self.dp_out(torch.cat([d[0], d[1], up_relu(fused8, size4)], 1))
        return edge, disp

    def trainable(self) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
        """(boundary-branch parameters, displacement-branch parameters, backbone parameters that
        train: none when frozen)."""
        edge = list(self.edge.parameters()) + list(self.edge_out.parameters())
        dp = list(self.dp.parameters()) + list(self.dp_fuse8.parameters()) + list(self.dp_out.parameters())
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        return edge, dp, backbone
