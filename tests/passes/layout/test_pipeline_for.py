"""``pipeline_for(level, backend)``: layout planning only for the NumPy backends at O3."""

from __future__ import annotations

import pytest

from nanograph.ir.errors import ConfigError
from nanograph.passes.pipelines import NUMPY_LAYOUT, PIPELINES, pipeline_for


def names(level: str, backend: str) -> list[str]:
    return [p.name for p in pipeline_for(level, backend)]


@pytest.mark.parametrize("backend", ["ort-cpu", "ort-cuda"])
def test_onnx_backends_keep_nchw_at_o3(backend: str) -> None:
    assert pipeline_for("O3", backend) == PIPELINES["O3"]
    assert "plan-layout" not in names("O3", backend)


@pytest.mark.parametrize("backend", ["numpy", "numpy-ref"])
def test_numpy_backends_plan_layout_at_o3_after_the_fusions(backend: str) -> None:
    assert pipeline_for("O3", backend) == (*PIPELINES["O3"], *NUMPY_LAYOUT)
    assert names("O3", backend)[-3:] == ["plan-layout", "simplify", "dce"]
    assert names("O3", backend).count("plan-layout") == 1


@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@pytest.mark.parametrize("backend", ["numpy", "numpy-ref", "ort-cpu"])
def test_levels_below_o3_are_the_level_pipeline(level: str, backend: str) -> None:
    assert pipeline_for(level, backend) == PIPELINES[level]


def test_unknown_level_is_a_config_error_listing_the_levels() -> None:
    with pytest.raises(ConfigError, match="unknown optimization level 'O4'") as err:
        pipeline_for("O4", "numpy")
    assert err.value.hint == "use one of O0, O1, O2, O3"
