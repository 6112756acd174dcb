"""``ConvGeometry``: what a convolution's running time depends on, as one hashable key.

The layout cost model looks measured conv times up by geometry (and the
benchmark that measures them, ``benchmarks/layout_costs.py``, collects the
zoo's geometries with ``conv_geometry``), so both read a node the same way:

- ``batch``, ``c_in``, ``h``, ``w``: the input ``x`` in NCHW terms (whatever
  the node's ``layout``);
- ``c_out``, ``kh``, ``kw``: the weight (OIHW or OHWI by ``layout``);
- ``strides``, ``pads`` (``[top, left, bottom, right]``), ``dilations``,
  ``groups``: the attributes.

Only static geometries exist: ``conv_geometry`` returns ``None`` when a dim
other than the batch is symbolic, and binds the batch to the ``batch`` it is
given when that one is symbolic (the cost model evaluates a symbolic batch
at the measured batch sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nanograph.ir.graph import Node

CONV_OPS = ("conv2d", "fused_conv2d")


@dataclass(frozen=True, order=True)
class ConvGeometry:
    """A conv's shapes and window attributes, in NCHW/OIHW terms (see the module docstring)."""

    batch: int
    c_in: int
    h: int
    w: int
    c_out: int
    kh: int
    kw: int
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def out_hw(self) -> tuple[int, int]:
        """(height, width) of the output."""
        (sh, sw), (dh, dw) = self.strides, self.dilations
        pt, pl, pb, pr = self.pads
        ho = (self.h + pt + pb - dh * (self.kh - 1) - 1) // sh + 1
        wo = (self.w + pl + pr - dw * (self.kw - 1) - 1) // sw + 1
        return ho, wo

    @property
    def macs(self) -> int:
        """Multiply-accumulates: one per output element per weight tap of its group."""
        ho, wo = self.out_hw
        return self.batch * self.c_out * ho * wo * (self.c_in // self.groups) * self.kh * self.kw

    @property
    def kernel_class(self) -> tuple[int, int, tuple[int, int], bool]:
        """What decides which algorithm a kernel picks: window, strides, grouped or not."""
        return self.kh, self.kw, self.strides, self.groups > 1

    def at_batch(self, batch: int) -> ConvGeometry:
        return replace(self, batch=batch)

    def __str__(self) -> str:
        text = (
            f"{self.c_in}x{self.h}x{self.w} -> {self.c_out} by {self.kh}x{self.kw}"
            f", stride {self.strides[0]}x{self.strides[1]}, pads {list(self.pads)}"
        )
        if self.dilations != (1, 1):
            text += f", dilation {self.dilations[0]}x{self.dilations[1]}"
        if self.groups > 1:
            text += f", {self.groups} groups"
        return f"N={self.batch} {text}"


def conv_geometry(node: Node, batch: int | None = None) -> ConvGeometry | None:
    """The geometry of conv ``node`` (``conv2d`` or ``fused_conv2d``, any layout).

    A symbolic batch is bound to ``batch`` (``None`` if ``batch`` is None); any
    other symbolic dim gives ``None``: there is nothing to look up.
    """
    x, wt = node.inputs[0].type, node.inputs[1].type
    nhwc = node.attrs["layout"] == "NHWC"
    n, c, h, w = (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if nhwc else x.shape
    o, kh, kw = (wt.shape[0], wt.shape[1], wt.shape[2]) if nhwc else (wt.shape[0], *wt.shape[2:])
    if not isinstance(n, int):
        if batch is None:
            return None
        n = batch
    if not (
        isinstance(c, int)
        and isinstance(h, int)
        and isinstance(w, int)
        and isinstance(o, int)
        and isinstance(kh, int)
        and isinstance(kw, int)
    ):
        return None
    a = node.attrs
    return ConvGeometry(
        batch=n,
        c_in=c,
        h=h,
        w=w,
        c_out=o,
        kh=kh,
        kw=kw,
        strides=_pair(a["strides"]),
        pads=(a["pads"][0], a["pads"][1], a["pads"][2], a["pads"][3]),
        dilations=_pair(a["dilations"]),
        groups=a["groups"],
    )


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    return values[0], values[1]


__all__ = ["CONV_OPS", "ConvGeometry", "conv_geometry"]
