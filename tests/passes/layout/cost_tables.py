"""Hand-made cost models for the layout tests, so no test depends on the measured table.

``model(table, transpose_us=...)`` builds a ``LayoutCostModel`` at batch 1 from
``{geometry: (nchw_us, nhwc_us)}`` with a fixed cost per transpose (and none per
byte), so the expected estimates in the tests can be added up by hand.
``FORCE_NHWC`` makes every conv 1000x faster in NHWC (by the nearest-geometry
scaling, whatever its shape) and transposes almost free; ``FORCE_NCHW`` the
reverse.
"""

from __future__ import annotations

from nanograph.passes.layout.conv_geometry import ConvGeometry
from nanograph.passes.layout.cost_model import LayoutCostModel


def model(
    table: dict[ConvGeometry, tuple[float, float]], transpose_us: float = 1.0
) -> LayoutCostModel:
    return LayoutCostModel(
        conv_us=table,
        transpose_fixed_us=transpose_us,
        transpose_us_per_kib=0.0,
        batches=(1,),
    )


_ANY = ConvGeometry(1, 16, 8, 8, 16, 3, 3, pads=(1, 1, 1, 1))
FORCE_NHWC = model({_ANY: (1000.0, 1.0)}, transpose_us=0.001)
FORCE_NCHW = model({_ANY: (1.0, 1000.0)}, transpose_us=0.001)
