"""A compact Mask R-CNN for small images, built from torchvision parts (no pretrained weights).

The architecture of the bundled sample model (``sample_data/models/sample_maskrcnn.pt``):
a small residual CNN (BatchNorm, strides 4-32), a 64-channel FPN, a 6-anchor RPN,
a ``TwoMLPHead`` box head with a 256-d representation and a 3-conv mask head.
About 2.5 M parameters (~5 MB as fp16), sized for ~320x240 images on a CPU.

Input/output contract (torchvision's Mask R-CNN):

* input: a list of ``(3, H, W)`` float tensors in ``[0, 1]``; images are resized
  internally so the short side is ``min_size`` (capped by ``max_size``) and
  outputs are mapped back to input pixels.
* eval output, one dict per image: ``boxes`` ``(N, 4)`` float absolute
  ``[x1, y1, x2, y2]``; ``labels`` ``(N,)`` int64 in ``1..num_classes-1``
  (0 is background); ``scores`` ``(N,)`` float in ``[0, 1]``, sorted descending;
  ``masks`` ``(N, 1, H, W)`` float probabilities in ``[0, 1]``.
* train mode (with targets ``boxes``, ``labels``, ``masks`` ``(N, H, W)`` uint8):
  a dict of the five losses ``loss_classifier``, ``loss_box_reg``, ``loss_mask``,
  ``loss_objectness``, ``loss_rpn_box_reg``.

Example:
    >>> import torch
    >>> from labelkit.models.compact import build_compact_maskrcnn
    >>> model = build_compact_maskrcnn(num_classes=4).eval()
    >>> with torch.no_grad():
    ...     out = model([torch.rand(3, 240, 320)])
    >>> sorted(out[0])
    ['boxes', 'labels', 'masks', 'scores']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import Conv2dNormActivation

__all__ = ["build_compact_maskrcnn", "load_checkpoint_state", "DEFAULT_ARCH_KWARGS"]

DEFAULT_ARCH_KWARGS: dict[str, Any] = dict(
    widths=(24, 48, 96, 160, 256),
    blocks=(1, 2, 2, 1),
    fpn_channels=64,
    representation_size=256,
    mask_channels=64,
    mask_layers=3,
    anchor_sizes=(16, 32, 64, 128, 256),
    min_size=240,
    max_size=320,
)
"""Defaults of :func:`build_compact_maskrcnn` (JSON-friendly, stored in checkpoints)."""


class _BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 conv-BN, identity or 1x1 projection shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2dNormActivation(cin, cout, 3, stride=stride)
        self.conv2 = Conv2dNormActivation(cout, cout, 3, activation_layer=None)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = Conv2dNormActivation(cin, cout, 1, stride=stride, activation_layer=None)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class _CompactBody(nn.Sequential):
    """Stem (stride 2) + four residual stages at strides 4, 8, 16, 32 (named layer1..layer4)."""

    def __init__(self, widths: Sequence[int], blocks: Sequence[int]) -> None:
        if len(widths) != 5 or len(blocks) != 4:
            raise ValueError(f"widths needs 5 entries and blocks 4, got {list(widths)} and {list(blocks)}")
        layers: dict[str, nn.Module] = {
            "stem": nn.Sequential(
                Conv2dNormActivation(3, widths[0], 3, stride=2),
                Conv2dNormActivation(widths[0], widths[0], 3),
            )
        }
        cin = widths[0]
        for i, (cout, n) in enumerate(zip(widths[1:], blocks, strict=True)):
            stage = [_BasicBlock(cin, cout, 2)] + [_BasicBlock(cout, cout, 1) for _ in range(n - 1)]
            layers[f"layer{i + 1}"] = nn.Sequential(*stage)
            cin = cout
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)


def build_compact_maskrcnn(
    num_classes: int,
    *,
    widths: Sequence[int] = DEFAULT_ARCH_KWARGS["widths"],
    blocks: Sequence[int] = DEFAULT_ARCH_KWARGS["blocks"],
    fpn_channels: int = DEFAULT_ARCH_KWARGS["fpn_channels"],
    representation_size: int = DEFAULT_ARCH_KWARGS["representation_size"],
    mask_channels: int = DEFAULT_ARCH_KWARGS["mask_channels"],
    mask_layers: int = DEFAULT_ARCH_KWARGS["mask_layers"],
    anchor_sizes: Sequence[int] = DEFAULT_ARCH_KWARGS["anchor_sizes"],
    min_size: int = DEFAULT_ARCH_KWARGS["min_size"],
    max_size: int = DEFAULT_ARCH_KWARGS["max_size"],
    **maskrcnn_kwargs: Any,
) -> MaskRCNN:
    """Build a randomly initialised compact Mask R-CNN.

    Args:
        num_classes: Number of classes **including** background (label 0).
        widths: Channels of the stem and the four stages (strides 2, 4, 8, 16, 32).
        blocks: Residual blocks per stage.
        fpn_channels: FPN output channels (also the RPN/RoI head input width).
        representation_size: Width of the two-layer box head.
        mask_channels: Channels of the mask head convs and deconv.
        mask_layers: Number of 3x3 convs in the mask head.
        anchor_sizes: One anchor size (pixels, at the resized scale) per FPN level
            (strides 4, 8, 16, 32, 64); each also gets a 1.5x size and aspect
            ratios 0.5, 1, 2.
        min_size: Short side the model resizes images to.
        max_size: Cap on the long side after resizing.
        **maskrcnn_kwargs: Passed to :class:`torchvision.models.detection.MaskRCNN`
            (e.g. ``box_score_thresh``, ``box_detections_per_img``).

    Returns:
        A :class:`torchvision.models.detection.MaskRCNN` in train mode (see the
        module docstring for its input/output contract).

    Raises:
        ValueError: ``num_classes < 2`` or malformed ``widths``/``blocks``/``anchor_sizes``.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes includes background and must be >= 2, got {num_classes}")
    if len(anchor_sizes) != 5:
        raise ValueError(f"anchor_sizes needs 5 entries (one per FPN level), got {list(anchor_sizes)}")
    body = _CompactBody(widths, blocks)
    backbone = BackboneWithFPN(
        body,
        return_layers={f"layer{i}": str(i - 1) for i in range(1, 5)},
        in_channels_list=list(widths[1:]),
        out_channels=fpn_channels,
    )
    anchors = AnchorGenerator(
        sizes=tuple((int(s), int(round(s * 1.5))) for s in anchor_sizes),
        aspect_ratios=((0.5, 1.0, 2.0),) * 5,
    )
    levels = ["0", "1", "2", "3"]
    kwargs: dict[str, Any] = dict(
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=300,
        box_batch_size_per_image=128,
        box_detections_per_img=50,
    )
    kwargs.update(maskrcnn_kwargs)
    return MaskRCNN(
        backbone,
        num_classes=None,  # given by the predictors below
        min_size=min_size,
        max_size=max_size,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(fpn_channels, anchors.num_anchors_per_location()[0]),
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(fpn_channels, [mask_channels] * mask_layers, 1, norm_layer=nn.BatchNorm2d),
        mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_classes),
        **kwargs,
    )


def load_checkpoint_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a (possibly fp16) state dict strictly, casting floats to the model's dtypes.

    Args:
        model: The model built with the checkpoint's ``arch_kwargs``.
        state_dict: Tensors by name; floating tensors may be fp16.

    Returns:
        ``model``, with the weights loaded.

    Raises:
        RuntimeError: Missing or unexpected keys, or shape mismatches (strict load).
    """
    ref = model.state_dict()
    cast = {
        k: v.to(ref[k].dtype) if k in ref and torch.is_floating_point(v) else v
        for k, v in state_dict.items()
    }
    model.load_state_dict(cast, strict=True)
    return model
