"""The static facts of one convolution: sizes, the padded extent its taps read, the
strategy that computes it, and the scratch that strategy needs per block of images.

Strategies (``conv.py`` runs them; all handle NCHW/OIHW and NHWC/OHWI natively):

- ``pointwise``: a 1x1 kernel, one group, no padding: one GEMM per block
  (strided inputs copied to a contiguous block first);
- ``depthwise``: one input channel per group and one output channel per group:
  a multiply-add of each tap's shifted view by its per-channel weight;
- ``rows``: one group, stride 1 in height: a sum of shifted GEMMs, one per
  kernel row. The kw taps of each padded input row are copied side by side
  once ([Hp, Wo, kw*C] per image in NHWC, [C, kw, Hp, Wo] in NCHW: kw copies
  of the input, not kh*kw), and kernel row i is then the window of rows
  ``i*dh .. i*dh+Ho-1`` of that buffer, a plain strided matrix a GEMM reads
  in place: kh GEMMs with K = kw*C, the first writing the output block, the
  others added to it;
- ``im2col``: everything else (height stride > 1, groups): the kh*kw taps
  copied side by side into a block of columns, then one GEMM per group.

The planned choice is the first that applies, in that order. Measured with
``benchmarks/executor_kernels.py --strategies`` (batch 32, one BLAS thread):
rows beats im2col on every stride-1 layer of lenet and resnet_small, by 1.2x
to 2.6x (lenet's conv1, C = 1, the most), and beat a sum of one GEMM per tap
over a flattened padded image (the first design: 9 GEMMs with K = C and 8
accumulating passes) or tied with it, so that one was dropped; pointwise
beats im2col slightly on the 1x1 shortcut.

Work is done ``images`` images at a time, so scratch (columns, GEMM partial
sums) is sized for a block, not for the batch, and a block's passes stay in
cache; ``BLOCK_BYTES`` bounds a block's scratch.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from nanograph.ir.attrs import Attrs

BLOCK_BYTES = 2**21
"""Bytes of scratch plus output a block of images may take (at least one image per
block). Summed over lenet's and resnet_small's convolutions at batch 32, both
layouts, one BLAS thread: 512 KiB 47 ms, 1 MiB 40, 2 MiB 38, 4 MiB 41, 8 MiB 45
(whole-batch buffers fall out of the L2 cache; small blocks make small GEMMs)."""


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution's sizes and plan (see the module docstring)."""

    nchw: bool
    n: int
    c: int
    h: int
    w: int
    o: int
    cg: int
    kh: int
    kw: int
    groups: int
    ho: int
    wo: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int
    hp: int
    wp: int
    strategy: str
    images: int

    @property
    def og(self) -> int:
        """Output channels per group."""
        return self.o // self.groups

    @property
    def padded(self) -> bool:
        """Whether some tap reads outside x (zero padding, or past its end)."""
        return (
            self.pt > 0 or self.pl > 0 or self.hp > self.pt + self.h or self.wp > self.pl + self.w
        )

    def scratch_shapes(self, images: int) -> list[tuple[str, tuple[int, ...]]]:
        """Named float buffers the strategy needs for a block of ``images`` images
        (``w``: the weights rearranged once per call, see ``conv.prepared_weights``)."""
        b, c, o, ho, wo, hp, wp = images, self.c, self.o, self.ho, self.wo, self.hp, self.wp
        kh, kw = self.kh, self.kw
        hw = (ho, wo)
        shapes: list[tuple[str, tuple[int, ...]]] = []
        if self.strategy == "pointwise":
            if self.sh > 1 or self.sw > 1:
                shapes.append(("x", (b, c, *hw) if self.nchw else (b, *hw, c)))
            if not self.nchw:
                shapes.append(("w", (c, o)))
        elif self.strategy == "depthwise":
            if self.padded:
                shapes.append(("x", (b, c, hp, wp) if self.nchw else (b, hp, wp, c)))
            shapes.append(("tmp", (b, c, *hw) if self.nchw else (b, *hw, c)))
        elif self.strategy == "rows":
            shapes.append(("col", (b, c, kw, hp, wo) if self.nchw else (b, hp, wo, kw, c)))
            if kh > 1:
                shapes.append(("tmp", (b, o, ho * wo) if self.nchw else (b, ho * wo, o)))
            shapes.append(("w", (kh, o, c, kw) if self.nchw else (kh, kw, c, o)))
        else:
            cg = self.cg
            shapes.append(("col", (b, cg, kh, kw, *hw) if self.nchw else (b, *hw, kh, kw, cg)))
            if not self.nchw:
                shapes.append(("w", (self.groups, kh * kw * cg, self.og)))
        return shapes

    def out_block_numel(self, images: int) -> int:
        return images * self.o * self.ho * self.wo


def applicable_strategies(g: ConvGeometry) -> list[str]:
    """The strategies that can compute ``g``, the planned choice first."""
    out = []
    if g.kh == g.kw == 1 and g.groups == 1 and not g.padded:
        out.append("pointwise")
    if g.cg == 1 and g.og == 1:
        out.append("depthwise")
    if g.groups == 1 and g.sh == 1:
        out.append("rows")
    return [*out, "im2col"]


def _strategy(g: ConvGeometry) -> str:
    return applicable_strategies(g)[0]


def _images_per_block(g: ConvGeometry, itemsize: int) -> int:
    per_image = sum(_numel(s) for _, s in g.scratch_shapes(1)) * itemsize
    per_image += g.out_block_numel(1) * itemsize  # the block of output the passes revisit
    return max(1, min(g.n, BLOCK_BYTES // max(per_image, 1)))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@functools.lru_cache(maxsize=512)
def conv_geometry(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    attrs: Attrs,
    itemsize: int = 4,
    strategy: str | None = None,
) -> ConvGeometry:
    """The geometry of conv2d ``attrs`` on x and w of these shapes (``strategy`` forces
    one, for tests and benchmarks; it must apply)."""
    nchw = attrs["layout"] == "NCHW"
    if nchw:
        n, c, h, w = x_shape
        o, cg, kh, kw = w_shape
    else:
        n, h, w, c = x_shape
        o, kh, kw, cg = w_shape
    (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
    pt, pl, pb, pr = attrs["pads"]
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    hp = (ho - 1) * sh + (kh - 1) * dh + 1
    wp = (wo - 1) * sw + (kw - 1) * dw + 1
    g = ConvGeometry(
        nchw,
        n,
        c,
        h,
        w,
        o,
        cg,
        kh,
        kw,
        attrs["groups"],
        ho,
        wo,
        sh,
        sw,
        dh,
        dw,
        pt,
        pl,
        hp,
        wp,
        "",
        1,
    )
    g = dataclasses.replace(g, strategy=strategy or _strategy(g))
    return dataclasses.replace(g, images=_images_per_block(g, itemsize))


__all__ = ["BLOCK_BYTES", "ConvGeometry", "applicable_strategies", "conv_geometry"]
