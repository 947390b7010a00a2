"""Frame encoders: one image in, one feature vector out, applied to every frame of a clip.

- "cnn": a small conv net sized for the built-in clips (64x64). By default its last feature map
  is flattened as well as averaged, so *where* things are survives into the features (motion
  direction is a change of position); the joint action + caption model pools it only (mean and
  max), which learns what things look like (shapes) much sooner, and gives colour a path of
  its own beside a conv stack that sees grey levels, built of VGG-style blocks (stride-1
  convolutions with max pooling between them), which tell shapes apart in looks not seen in
  training far sooner than stride-2 blocks.
- "resnet18", "mobilenet_v3_small": torchvision backbones, from scratch or from a weights file
  you provide (ImageNet weights saved with `torch.save(model.state_dict(), path)`; nothing is
  downloaded).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from avseq.errors import AvseqError

FRAME_ENCODERS = ("cnn", "resnet18", "mobilenet_v3_small")
GLOBAL_POOLS = ("mean", "max", "meanmax")
DOWNSAMPLES = ("stride", "maxpool")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normal_flow(frame: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) normalised frame and its change over time -> (N, 2, H, W) normal flow.

    -I_t * grad(I), summed over colour: at every edge, how far and which way it moved along its
    normal (the motion a single frame pair shows at an edge). Unlike the plain difference its sign
    does not depend on whether the object is brighter or darker than what it covers, and it is a
    product of the two inputs, which stacked ReLU convolutions approximate only slowly (see
    BENCHMARKS.md, "Frame features").
    """
    # central differences by slicing: much cheaper on CPU than a depthwise Sobel convolution
    pad = nn.functional.pad(frame, (1, 1, 1, 1), mode="replicate")
    gx = pad[..., 1:-1, 2:] - pad[..., 1:-1, :-2]
    gy = pad[..., 2:, 1:-1] - pad[..., :-2, 1:-1]
    # -I_t * grad(I), halved for the 2-pixel differences, x4 to about the inputs' unit scale
    return torch.stack([(diff * gx).sum(1), (diff * gy).sum(1)], dim=1) * -2


def _conv_block(c_in: int, c_out: int, stride: int = 2, pool: bool = False) -> nn.Sequential:
    layers = [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallFrameCNN(nn.Module):
    """Stride-2 conv blocks down to a `final_size` map; the flattened map ("where") and its
    global pooling ("what") are projected to `out_dim`.

    Args:
        global_pool: "mean", "max" or "meanmax" (both, concatenated): how the last map is
            pooled into the position-free features. A maximum responds to a shape wherever it
            is and however small it is in the frame.
        where_channels: channels of the flattened map: None keeps all of them, k > 0 first
            reduces them to k with a 1x1 convolution, 0 leaves the map out. The map slows the
            learning of what things look like (BENCHMARKS.md, "Frame features").
        colour_channels: k > 0 adds a colour path (k per-pixel filters on the RGB frame at half
            resolution, mean- and max-pooled) and the conv stack then sees grey levels (each
            RGB triple of its input averaged), so learning colour does not slow the learning
            of shapes (BENCHMARKS.md, "Frame features").
        downsample: "stride" (each block a stride-2 convolution: cheapest) or "maxpool"
            (VGG-style: stride-1 convolutions, a 2x2 max pooling between blocks, so the last
            map is twice as large). Max pooling tells shapes apart in new looks far sooner
            (BENCHMARKS.md, "Frame features"), at about twice the cost for the same widths.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        final_size: int = 4,
        out_dim: int = 256,
        in_channels: int = 3,
        global_pool: str = "mean",
        where_channels: int | None = None,
        colour_channels: int = 0,
        downsample: str = "stride",
    ) -> None:
        super().__init__()
        if downsample not in DOWNSAMPLES:
            raise AvseqError(f"downsample must be one of {DOWNSAMPLES}, got {downsample!r}")
        if global_pool not in GLOBAL_POOLS:
            raise AvseqError(f"global_pool must be one of {GLOBAL_POOLS}, got {global_pool!r}")
        if where_channels is not None and where_channels < 0:
            raise AvseqError(f"where_channels must be null or >= 0, got {where_channels}")
        if colour_channels < 0:
            raise AvseqError(f"colour_channels must be >= 0, got {colour_channels}")
        # with a colour path, the conv stack sees grey levels only (each RGB triple of the
        # input, the frame and its change, averaged): it learns shapes and motion for all
        # colours at once, and colour reaches the features through the colour path
        self.rgb_groups = (in_channels // 3) if colour_channels else 0
        blocks, c_in = [], in_channels - 2 * self.rgb_groups
        pooled = downsample == "maxpool"
        for i, c in enumerate(channels):
            last = i == len(channels) - 1
            blocks.append(_conv_block(c_in, c, 1 if pooled else 2, pooled and not last))
            c_in = c
        self.convs = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(final_size)
        self.global_pool = global_pool
        where = c_in if where_channels is None else where_channels
        self.reduce = (
            nn.Conv2d(c_in, where, 1) if where_channels is not None and where > 0 else None
        )
        # the flattened map says where things are; the global pooling says what they look like
        # wherever they are (shape, orientation, which way an edge moved), learned once for all
        # positions
        what = c_in * (2 if global_pool == "meanmax" else 1)
        self.colour = (
            nn.Sequential(nn.Conv2d(3, colour_channels, 1), nn.ReLU(inplace=True))
            if colour_channels
            else None
        )
        self.proj = nn.Sequential(
            nn.Linear(where * final_size * final_size + what + 2 * colour_channels, out_dim),
            nn.ReLU(inplace=True),
        )
        self.out_dim = out_dim
        self.has_where = where > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.colour is not None:  # what colours the frame has, per pixel, then pooled
            # at half resolution: a colour needs no detail, and the full map costs as much
            # as the whole conv stack on CPU
            colour = self.colour(nn.functional.avg_pool2d(x[:, :3], 2))
            parts += [colour.mean(dim=(2, 3)), colour.amax(dim=(2, 3))]
            g = 3 * self.rgb_groups
            grey = x[:, :g].unflatten(1, (self.rgb_groups, 3)).mean(2)
            x = torch.cat([grey, x[:, g:]], dim=1)
        x = self.convs(x)
        if self.has_where:
            where = self.pool(x)
            if self.reduce is not None:
                where = self.reduce(where)
            parts.append(where.flatten(1))
        if self.global_pool in ("mean", "meanmax"):
            parts.append(x.mean(dim=(2, 3)))
        if self.global_pool in ("max", "meanmax"):
            parts.append(x.amax(dim=(2, 3)))
        return self.proj(torch.cat(parts, dim=1))


def _torchvision_backbone(name: str) -> tuple[nn.Module, int]:
    if name == "resnet18":
        net = torchvision.models.resnet18(weights=None)
        dim = net.fc.in_features
        net.fc = nn.Identity()
        return net, dim
    net = torchvision.models.mobilenet_v3_small(weights=None)
    dim = net.classifier[0].in_features
    net.classifier = nn.Identity()
    return net, dim


class FrameEncoder(nn.Module):
    """(N, 3, H, W) uint8 frames -> (N, out_dim) features; normalisation happens inside.

    Args:
        kind: "cnn", "resnet18" or "mobilenet_v3_small".
        image_size: frame side (for "cnn").
        channels, out_dim: the small CNN's widths and output size.
        weights: a state-dict file for a torchvision backbone (loaded with weights_only=True;
            a classifier head in it is ignored).
        motion: also feed the difference to the previous frame (3 more input channels; the
            small CNN only). Frames then arrive as (N, 6, H, W): the frame, then the previous
            one. Small changes between frames (a slow rotation) become easy to see.
        flow: with `motion`, also feed the normal flow between the two frames (2 more input
            channels, see `normal_flow`): which way edges moved, so the direction of a rotation
            is learnable.
        global_pool, where_channels: how the small CNN turns its last map into features (see
            `SmallFrameCNN`).
        downsample: how the small CNN shrinks its maps, "stride" or "maxpool" (see
            `SmallFrameCNN`).
        colour_channels: the small CNN's colour path (see `SmallFrameCNN`); 0 for none.
        freeze: keep the encoder fixed (no gradients, BatchNorm in eval mode); pair it with
            `data.feature_cache` to compute frame features once.
    """

    def __init__(
        self,
        kind: str = "cnn",
        image_size: int = 64,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        out_dim: int = 256,
        weights: str | None = None,
        freeze: bool = False,
        motion: bool = False,
        flow: bool = False,
        global_pool: str = "mean",
        where_channels: int | None = None,
        colour_channels: int = 0,
        downsample: str = "stride",
    ) -> None:
        super().__init__()
        if kind not in FRAME_ENCODERS:
            raise AvseqError(f"frame encoder kind must be one of {FRAME_ENCODERS}, got {kind!r}")
        if flow and not motion:
            raise AvseqError("flow input needs motion input (frame encoder motion: true)")
        if colour_channels and kind != "cnn":
            raise AvseqError(
                f"colour_channels is for the 'cnn' frame encoder; {kind} sees colour itself "
                "(set model.net.frame_encoder.colour_channels=0)"
            )
        self.motion = motion
        self.flow = flow
        if kind == "cnn":
            if weights:
                raise AvseqError("frame encoder weights are for torchvision backbones only")
            self.net: nn.Module = SmallFrameCNN(
                image_size,
                tuple(channels),
                out_dim=out_dim,
                in_channels=3 + 3 * motion + 2 * flow,
                global_pool=global_pool,
                where_channels=where_channels,
                colour_channels=colour_channels,
                downsample=downsample,
            )
            self.out_dim = out_dim
            mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
        else:
            if motion:
                raise AvseqError(
                    f"motion input is for the 'cnn' frame encoder; {kind} takes RGB frames"
                )
            self.net, self.out_dim = _torchvision_backbone(kind)
            mean, std = IMAGENET_MEAN, IMAGENET_STD
            if weights:
                self._load(weights)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255, persistent=False)
        self.frozen = freeze
        if freeze:
            self.net.requires_grad_(False)
            self.net.eval()  # BatchNorm statistics stay fixed too
        # channels-last convolutions: faster on CPU (oneDNN), and what cuDNN prefers
        self.net.to(memory_format=torch.channels_last)

    def _load(self, weights: str) -> None:
        path = Path(weights)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise AvseqError(
                f"{path}: cannot load frame encoder weights ({str(err)[:100]}); give a "
                "state_dict saved with torch.save"
            ) from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        own = self.net.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if len(usable) < len(own) // 2:
            raise AvseqError(
                f"{path}: only {len(usable)} of {len(own)} tensors match this backbone; "
                "is it the right architecture?"
            )
        self.net.load_state_dict(usable, strict=False)

    def train(self, mode: bool = True) -> FrameEncoder:
        super().train(mode)
        if self.frozen:
            self.net.eval()
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 frames, or (N, 6, H, W) frame + previous frame with `motion`."""
        x = frames.float()
        if self.motion:
            now, prev = x[:, :3], x[:, 3:]
            diff = (now - prev) / self.std
            parts = [(now - self.mean) / self.std, diff]
            if self.flow:
                parts.append(normal_flow(((now + prev) / 2 - self.mean) / self.std, diff))
            x = torch.cat(parts, dim=1)
        else:
            x = (x - self.mean) / self.std
        x = x.contiguous(memory_format=torch.channels_last)
        if self.frozen:
            with torch.no_grad():
                return self.net(x)
        return self.net(x)
