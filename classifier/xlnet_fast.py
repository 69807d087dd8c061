"""An inference forward for XLNet sequence classifiers: the same weights and maths as transformers', fewer passes.

transformers' `XLNetModel` is written for pre-training (two streams, memories, permutation masks).
At inference for classification it spends most of its time outside the matrix products: every
layer materialises `[B, H, T, 2T]` and `[B, H, T, T]` score tensors and walks them ~10 times
(relative shift through `index_select`, `* scale`, `ac + bd + ef`, a `1e30 * mask` einsum copy,
softmax in the model's dtype, layout copies for `einsum`), and it recomputes the positional keys
once per sequence in the batch. On a CPU those passes are memory-bound and cost more than the
matmuls on long texts (docs/benchmarks.md, "Classifier engine").

`FastXLNet` computes the same function with:
- one fused q/k/v projection, and positional keys computed once per layer, not once per sequence;
- the relative shift as a strided view of the position scores (no copy, no gather);
- the segment term folded into a low-rank correction (below) and added, with the padding mask,
  in the same `baddbmm` that materialises the score bias;
- `scaled_dot_product_attention` for content scores, softmax (float32 inside) and the weighted
  sum, fused, with that bias as its mask.

The segment term. transformers adds `ef[i, j] = e(i, same) + [seg_i != seg_j] * delta(i)` to the
score of query i and key j. A softmax over j does not change when a row's scores all move by the
same amount, so `e(i, same)` and `delta(i)` can be dropped, leaving
`-sum_s delta(i) [seg_i = s] [seg_j = s]`: a product of a `[T, S]` and an `[S, T]` matrix for the S
segment ids in the batch (usually 3: text, CLS, padding). The padding mask rides along as one more
column. This is exact in real arithmetic; in float32 the logits match transformers' to ~1e-5 and
in bfloat16 the labels agree on the benchmark set (tests/classifier/test_xlnet_fast.py, bench).

Padded query rows (left padding, as XLNet's tokenizer does) attend to the real tokens only, where
transformers also lets them attend to themselves; no real position ever reads a padded one, so
the summary token's state, and the logits, are the same.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

# A masked key's score: far below any real score and finite in bf16/fp16 arithmetic (a product of
# 1 and this in the bias matmul, never 0 * inf).
_MASKED = -1e4


@dataclass
class FastOutput:
    """What the engine reads from a forward pass, shaped like transformers' output."""

    logits: torch.Tensor


def unsupported_reason(model: Any) -> str | None:
    """Why `FastXLNet` cannot stand in for this model, or None when it can."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) != "xlnet":
        return "not an XLNet model"
    if type(model).__name__ != "XLNetForSequenceClassification":
        return f"{type(model).__name__} is not XLNetForSequenceClassification"
    if config.attn_type != "bi":
        return f"attn_type {config.attn_type!r} (only bidirectional attention is implemented)"
    if config.bi_data:
        return "bi_data (a pre-training option) is set"
    if getattr(config, "summary_type", "last") not in ("last", "first", "mean"):
        return f"summary_type {config.summary_type!r}"
    return None


class FastXLNet(torch.nn.Module):
    """Inference-only forward of an `XLNetForSequenceClassification`, sharing its weights.

    Call it like the model: `fast(input_ids=..., attention_mask=..., token_type_ids=...)`; it returns
    an object with `.logits`. The wrapped model stays usable (training uses it, not this).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"FastXLNet cannot run this model: {reason}")
        self.model = model
        config = model.config
        self.n_head, self.d_head, self.d_model = config.n_head, config.d_head, config.d_model
        self.scale = 1 / math.sqrt(self.d_head)
        self.clamp_len = config.clamp_len
        self._fused: list[torch.Tensor] = []
        self._fused_key: tuple = ()
        self._workspace = threading.local()

    @property
    def config(self) -> Any:
        return self.model.config

    def fused_qkv(self) -> list[torch.Tensor]:
        """Per layer, q, k and v side by side as one `[3·H·D, d]` weight for F.linear.

        A copy of the model's weights, so it is rebuilt whenever they change: an optimizer step
        bumps their version counters, `model.to()` gives them new storage.
        """
        layers = [layer.rel_attn for layer in self.model.transformer.layer]
        key = tuple((p.data_ptr(), p._version, p.dtype) for a in layers for p in (a.q, a.k, a.v))
        if key != self._fused_key:
            d = self.d_model
            with torch.no_grad():
                self._fused = [
                    torch.cat([a.q.reshape(d, -1), a.k.reshape(d, -1), a.v.reshape(d, -1)], 1).t().contiguous()
                    for a in layers
                ]
            self._fused_key = key
        return self._fused

    def workspace(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A scratch tensor of `shape`, kept for the next call from this thread (each stream has its own).

        The score tensors are tens of MB. Allocated afresh in every layer, each comes from new pages
        of memory that the kernel must fault in: that made the position-score matmul 3x slower than
        writing into a reused buffer (docs/benchmarks.md). A buffer only grows.
        """
        size = math.prod(shape)
        buffers = self._workspace.__dict__.setdefault("buffers", {})
        buffer = buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype or buffer.device != device:
            buffer = buffers[name] = torch.empty(size, dtype=dtype, device=device)
        return buffer[:size].view(shape)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """softmax(scale · q kᵀ + bias) v for [B, T, H, D] inputs and a [B, H, T, T] bias; [B, T, H·D] out.

        SDPA fuses the content scores, the softmax (float32 inside) and the weighted sum, and never
        writes the scores out. (Three plain batched ops measured no faster even at short widths.)
        """
        batch, width, heads, head_dim = q.shape
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias, scale=self.scale
        )  # [B, H, T, D]
        return out.transpose(1, 2).reshape(batch, width, heads * head_dim)

    def positional_keys_input(self, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """XLNet's sinusoidal embeddings of relative positions width .. -width+1: [2·width, d_model]."""
        positions = torch.arange(width, -width, -1.0, device=device)
        if self.clamp_len > 0:
            positions = positions.clamp(-self.clamp_len, self.clamp_len)
        inv_freq = 1 / torch.pow(10000, torch.arange(0, self.d_model, 2.0, device=device) / self.d_model)
        angles = positions[:, None] * inv_freq
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).to(dtype)

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> FastOutput:
        batch, width = input_ids.shape
        heads, head_dim = self.n_head, self.d_head
        transformer = self.model.transformer
        hidden = transformer.word_embedding(input_ids)  # [B, T, d]
        dtype, device = hidden.dtype, hidden.device
        positions = self.positional_keys_input(width, dtype, device)

        # Padding: an additive row over the keys, [B, 1, 1, T].
        key_mask: torch.Tensor | None = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_mask = ((attention_mask == 0).to(dtype) * _MASKED)[:, None, None, :]
        # Segments: the correction's right-hand factor, [B·H, S(+1), T], a row per segment id
        # (then the mask); the left-hand factor depends on each layer's queries.
        segments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # same, right, ones
        if token_type_ids is not None:
            same = (token_type_ids[:, None, :] == torch.unique(token_type_ids)[None, :, None]).to(dtype)  # [B, S, T]
            right = same if key_mask is None else torch.cat([same, key_mask[:, 0]], dim=1)
            right = right[:, None].expand(batch, heads, *right.shape[1:]).reshape(batch * heads, -1, width)
            segments = same, right, torch.ones(batch, heads, width, 1, dtype=dtype, device=device)

        d = self.d_model
        position_scores = self.workspace("position_scores", (heads, batch * width, 2 * width), dtype, device)
        bias_buffer = self.workspace("bias", (batch, heads, width, width), dtype, device)
        queries_r = self.workspace("queries_r", (heads, batch, width, head_dim), dtype, device)
        for layer, qkv_weight in zip(transformer.layer, self.fused_qkv(), strict=True):
            attention = layer.rel_attn
            qkv = F.linear(hidden, qkv_weight).view(batch, width, 3, heads, head_dim)
            q, k, v = qkv.unbind(2)  # [B, T, H, D] views
            # Positional keys, scaled here (2T rows) rather than the queries (B·T rows): [H, D, 2T].
            keys_r = (positions @ attention.r.reshape(d, -1)).mul_(self.scale)
            keys_r = keys_r.view(2 * width, heads, head_dim).permute(1, 2, 0).contiguous()

            # Position scores against all 2T relative positions, [H, B·T, 2T]; one pass adds the
            # bias and lays the queries out head-major.
            torch.add(q.permute(2, 0, 1, 3), attention.r_r_bias[:, None, None, :], out=queries_r)
            scores_r = torch.bmm(queries_r.view(heads, batch * width, head_dim), keys_r, out=position_scores)
            # Relative shift: query i reads positions T - i .. 2T - 1 - i, a strided view.
            shifted = scores_r.as_strided(
                (heads, batch, width, width),
                (batch * width * 2 * width, width * 2 * width, 2 * width - 1, 1),
                scores_r.storage_offset() + width,
            )
            # The bias SDPA adds to the content scores, [B, H, T, T]: with nothing to add, the view
            # itself (SDPA reads a strided mask as fast); else one pass writes it out.
            bias = bias_buffer
            if segments is None:
                if key_mask is None:
                    bias = shifted.transpose(0, 1)
                else:
                    torch.add(shifted.transpose(0, 1), key_mask, out=bias)
            else:
                same, right, ones = segments
                bias.copy_(shifted.transpose(0, 1))
                # delta(i) = (q_i + r_s_bias) · (seg_embed[1] - seg_embed[0]), per head
                seg_delta = attention.seg_embed[1] - attention.seg_embed[0]
                delta = torch.einsum("bthd,hd->bht", q + attention.r_s_bias, seg_delta)
                left = (-self.scale * delta)[..., None] * same[:, None].transpose(-1, -2)  # [B, H, T, S]
                if key_mask is not None:
                    left = torch.cat([left, ones], dim=-1)
                bias.view(batch * heads, width, width).baddbmm_(left.reshape(batch * heads, width, -1), right)

            content = self.attend(q + attention.r_w_bias, k, v, bias)  # [B, T, H·D]
            # F.linear with o as [d, H·D] is transformers' einsum("ibnd,hnd->ibh", ..., o).
            attended = F.linear(content, attention.o.reshape(d, -1))
            hidden = attention.layer_norm(attended + hidden)
            hidden = layer.ff(hidden)

        summary = self.model.sequence_summary(hidden)
        return FastOutput(logits=self.model.logits_proj(summary))
