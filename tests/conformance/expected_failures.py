"""The ONNX node test cases we expect to fail, and exactly how: the one place they are listed.

An expectation is the error a case must fail with: its class name
(``"mismatch"`` for outputs that differ from onnx's), a fragment of its
message, and the reason in words (what the README shows).
``expected_failure(case)`` gives a case's expectation, from the first of:

1. ``EXPECTED_FAILURES``: named cases, by reason;
2. element types: a case whose model uses an element type nanograph lacks
   (it has f32, f16, i64, i32, bool) must be refused naming the first such
   type in the order the importer meets them (inputs, initializers, node
   attributes, outputs);
3. runtime parameters: a case that feeds a shape, axes or pads input as a
   graph input (it has a ``+const`` variant) must be refused as "computed from
   tensor data at runtime"; its variant must then pass or be listed here.

``tests/conformance/test_onnx_node_tests.py`` checks every case both ways: a
case with an expectation that passes, or fails another way, is a test
failure, and so is a case without one that fails. The table is for the onnx
release below: another release may add, rename or regenerate cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import AttributeProto, TensorProto

from tests.conformance.node_cases import NodeCase, parameter_inputs

ONNX_VERSION = "1.23.2"


@dataclass(frozen=True)
class Expected:
    """How a case fails: ``error`` (class name or ``"mismatch"``), ``match`` (a fragment of
    the message) and ``reason`` (why, in words)."""

    error: str
    match: str
    reason: str


def _all(error: str, match: str, reason: str, names: str) -> dict[str, Expected]:
    return dict.fromkeys(names.split(), Expected(error, match, reason))


FP16_ORDER = (
    "float16 rounding: ONNX scales Q and K by sqrt(scale) before the matmul, nanograph's "
    "attention scales the scores; 1 of 192 outputs is one fp16 ulp off (rel 1.2e-3 > rtol 1e-3)"
)
KV_CACHE = "Attention: KV-cache inputs (past_key/past_value, nonpad_kv_seqlen) are not supported"
SOFTCAP = "Attention: softcap is not supported"
QK_OUTPUT = "Attention: the optional qk_matmul_output output is not supported"
OLD_VERSION = (
    "the model's opset (below 13) selects a Dropout schema version (10) that no converter "
    "handles; the error says to convert the model with onnx.version_converter"
)
POOL_3D = "3-D pooling: nanograph's convolutions and pools are 1-D and 2-D"
POOL_INDICES = "MaxPool: the optional Indices output is not supported"
TRAINING = "training mode (batch statistics, random dropout): nanograph is inference-only"
LAST_INDEX = "ArgMax: select_last_index=1 is not supported (ties resolve to the first index)"
PAD_WRAP = "Pad: mode='wrap' is not supported (constant, reflect and edge are)"
POW_INT = "Pow on integer tensors: nanograph's pow is float-only"
REDUCE_EMPTY = "ReduceMax/ReduceMin over an empty axis (ONNX gives -inf/+inf): refused"
NOT_TENSOR = "sequence and optional inputs: nanograph's values are tensors"
DTYPE = "an element type nanograph does not compute in (it has f32, f16, i64, i32, bool)"
RUNTIME = (
    "a shape, axes or pads input fed at run time: nanograph needs it constant at import "
    "(the case's `+const` variant feeds it as an initializer)"
)

EXPECTED_FAILURES: dict[str, Expected] = {
    **_all("mismatch", "Mismatched elements: 1 / 192", FP16_ORDER, """
        test_attention_4d_causal_fp16
    """),
    **_all("UnsupportedOpError", "the past_key input (KV cache) is not supported", KV_CACHE, """
        test_attention_3d_diff_heads_with_past_and_present
        test_attention_3d_gqa_with_past_and_present test_attention_3d_with_past_and_present
        test_attention_3d_with_past_and_present_qk_matmul
        test_attention_3d_with_past_and_present_qk_matmul_bias
        test_attention_3d_with_past_and_present_qk_matmul_softcap
        test_attention_3d_with_past_and_present_qk_matmul_softmax
        test_attention_4d_causal_with_past_and_present
        test_attention_4d_diff_heads_with_past_and_present
        test_attention_4d_diff_heads_with_past_and_present_mask3d
        test_attention_4d_diff_heads_with_past_and_present_mask4d
        test_attention_4d_gqa_with_past_and_present
        test_attention_4d_gqa_with_past_and_present_fp16 test_attention_4d_with_past_and_present
        test_attention_4d_with_past_and_present_qk_matmul
        test_attention_4d_with_past_and_present_qk_matmul_bias
        test_attention_4d_with_past_and_present_qk_matmul_bias_3d_mask
        test_attention_4d_with_past_and_present_qk_matmul_bias_3d_mask_causal
        test_attention_4d_with_past_and_present_qk_matmul_bias_4d_mask
        test_attention_4d_with_past_and_present_qk_matmul_bias_4d_mask_causal
        test_attention_local_window_with_past
    """),
    **_all("UnsupportedOpError", "the nonpad_kv_seqlen input (KV cache) is not", KV_CACHE, """
        test_attention_4d_causal_nonpad_attn_mask_composition
        test_attention_4d_causal_nonpad_batch_prefill
        test_attention_4d_causal_nonpad_continued_prefill
        test_attention_4d_causal_nonpad_negative_offset_structural_empty
        test_attention_4d_diff_heads_mask4d_padded_kv test_attention_4d_gqa_causal_nonpad_decode
        test_attention_4d_gqa_causal_nonpad_decode_fp16
        test_attention_local_window_ext_cache_float16_mask
        test_attention_local_window_ext_cache_rank2_mask
        test_attention_local_window_ext_cache_rank3_head_mask
        test_attention_local_window_ext_cache_rank4_batch_mask
    """),
    **_all("UnsupportedOpError", "softcap is not supported", SOFTCAP, """
        test_attention_3d_diff_heads_sizes_softcap test_attention_3d_gqa_softcap
        test_attention_3d_softcap test_attention_4d_diff_heads_sizes_softcap
        test_attention_4d_gqa_softcap test_attention_4d_softcap
        test_attention_4d_softcap_neginf_mask test_attention_4d_softcap_neginf_mask_poison
    """),
    **_all("UnsupportedOpError", "the qk_matmul_output output is not supported", QK_OUTPUT, """
        test_attention_23_fullymasked_qk_matmul_output_mode3_zero
        test_attention_24_fullymasked_qk_matmul_output_mode3_zero
        test_attention_24_qk_matmul_output_mode3_softmax_precision
        test_attention_4d_with_qk_matmul test_attention_4d_with_qk_matmul_bias
        test_attention_4d_with_qk_matmul_softcap test_attention_4d_with_qk_matmul_softmax
        test_attention_local_window_gqa_rank4_mask
    """),
    **_all("UnsupportedOpError", "Dropout [version 10 (nanograph converts", OLD_VERSION, """
        test_dropout_default_old test_dropout_random_old
    """),
    **_all("UnsupportedOpError", "3-D windows are not supported", POOL_3D, """
        test_averagepool_3d_default
        test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_False
        test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_True
        test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_False
        test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True
        test_averagepool_3d_dilations_small test_maxpool_3d_default test_maxpool_3d_dilations
        test_maxpool_3d_dilations_use_ref_impl test_maxpool_3d_dilations_use_ref_impl_large
    """),
    **_all("UnsupportedOpError", "the Indices output is not supported", POOL_INDICES, """
        test_maxpool_with_argmax_2d_precomputed_pads
        test_maxpool_with_argmax_2d_precomputed_strides
    """),
    **_all("UnsupportedOpError", "training_mode=1 (statistics from the batch)", TRAINING, """
        test_batchnorm_epsilon_training_mode test_batchnorm_example_training_mode
    """),
    **_all("UnsupportedOpError", "training_mode=true (random dropout)", TRAINING, """
        test_training_dropout+const test_training_dropout_default+const
        test_training_dropout_default_mask+const test_training_dropout_mask+const
        test_training_dropout_zero_ratio+const test_training_dropout_zero_ratio_mask+const
    """),
    **_all("UnsupportedOpError", "select_last_index=1 is not supported", LAST_INDEX, """
        test_argmax_default_axis_example_select_last_index
        test_argmax_default_axis_random_select_last_index
        test_argmax_keepdims_example_select_last_index
        test_argmax_keepdims_random_select_last_index
        test_argmax_negative_axis_keepdims_example_select_last_index
        test_argmax_negative_axis_keepdims_random_select_last_index
        test_argmax_no_keepdims_example_select_last_index
        test_argmax_no_keepdims_random_select_last_index
    """),
    **_all("UnsupportedOpError", "mode='wrap' is not supported", PAD_WRAP, """
        test_wrap_pad test_wrap_pad+const
    """),
    **_all("DTypeError", "pow: input must be f32, f16", POW_INT, """
        test_pow_types_int32_float32 test_pow_types_int32_int32 test_pow_types_int64_float32
        test_pow_types_int64_int64
    """),
    **_all("ShapeError", "which has length 0, has no value", REDUCE_EMPTY, """
        test_reduce_max_empty_set+const test_reduce_max_empty_set_bool+const
        test_reduce_min_empty_set+const
    """),
    **_all("UnsupportedOpError", "is not a tensor (sequences and maps are not", NOT_TENSOR, """
        test_identity_opt test_identity_sequence
    """),
}  # fmt: skip

SUPPORTED_TYPES = {
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.BOOL,
}


def unsupported_types(model: onnx.ModelProto) -> list[str]:
    """Element types outside nanograph's, in the order the importer meets them."""
    graph, found = model.graph, []
    types = [vi.type.tensor_type.elem_type for vi in graph.input if vi.type.HasField("tensor_type")]
    types += [t.data_type for t in graph.initializer]
    for node in graph.node:
        types += [a.t.data_type for a in node.attribute if a.type == AttributeProto.TENSOR]
        types += [a.i for a in node.attribute if node.op_type == "Cast" and a.name == "to"]
    types += [vi.type.tensor_type.elem_type for vi in graph.output]
    for t in types:
        if t not in SUPPORTED_TYPES:
            found.append(TensorProto.DataType.Name(t))
    return found


def expected_failure(case: NodeCase) -> Expected | None:
    """How ``case`` is expected to fail (see the module docstring), or None if it must pass."""
    if case.name in EXPECTED_FAILURES:
        return EXPECTED_FAILURES[case.name]
    types = unsupported_types(case.model)
    if types:
        return Expected("UnsupportedOpError", f"element type {types[0]}, which nanograph", DTYPE)
    if not case.variant and parameter_inputs(case.model):
        return Expected("UnsupportedOpError", "is computed from tensor data at runtime", RUNTIME)
    return None
