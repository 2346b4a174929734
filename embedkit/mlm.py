"""Masked language modelling (Devlin et al. 2019): a representation learned by filling in blanks.

- `MaskedLM` puts BERT's prediction head on `embedkit.bert.BertEncoder`:
  dense -> GELU -> LayerNorm, then a product with the (tied) word-embedding
  matrix plus a bias, one score per vocabulary entry. Its weights load from a
  Hugging Face ``BertForMaskedLM`` state dict, which is how the tests check it.
- `mask_tokens` picks 15% of the positions; of those, 80% become ``[MASK]``,
  10% a random word and 10% stay, and only those positions are scored
  (labels elsewhere are -100, the index `cross_entropy` ignores).
- `mlm_loss` and `causal_lm_loss` (next-word prediction with a causal mask; optionally scored
  on a random share of the positions only) are ``loss_fn``s for `embedkit.train.fit`; `word_windows`
  turns a word corpus into fixed-length training sequences with a word-level
  vocabulary (special ids first: ``[PAD]`` 0, ``[UNK]`` 1, ``[MASK]`` 2).

Left out: WordPiece training (a word-level vocabulary keeps the probes
simple), next-sentence prediction, dropout, and whole-word masking.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .bert import BertConfig, BertEncoder
from .errors import DataIntegrityError, EmptyInputError, ShapeError, check_whole
from .vocab import Vocabulary, _word_lists

PAD, UNK, MASK = 0, 1, 2
SPECIAL = ["[PAD]", "[UNK]", "[MASK]"]
IGNORE = -100  # label of positions that are not predicted


class MaskedLM(nn.Module):
    """A BERT encoder with the masked-word prediction head; output embedding tied to the input one."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.encoder = BertEncoder(config)
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.apply(_init_like_bert)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Scores over the vocabulary for every position: (batch, length, vocab)."""
        return self.predict(self.encoder(input_ids, _full_mask(input_ids, attention_mask)))

    def predict(self, hidden: torch.Tensor) -> torch.Tensor:
        """The head alone: hidden states (..., hidden) -> vocabulary scores (..., vocab)."""
        x = self.transform_norm(F.gelu(self.transform(hidden)))
        return x @ self.encoder.word_embeddings.weight.T + self.bias

    def word_vectors(self) -> torch.Tensor:
        """The input word embeddings (vocab, hidden): what the probes look at."""
        return self.encoder.word_embeddings.weight.detach()

    _HEAD = {"cls.predictions.transform.dense.": "transform.", "cls.predictions.transform.LayerNorm.": "transform_norm.",
             "cls.predictions.bias": "bias"}

    def load(self, tensors: dict[str, torch.Tensor]) -> "MaskedLM":
        """Copy a Hugging Face ``BertForMaskedLM`` state dict in (the decoder must be tied to the embeddings)."""
        head, body = {}, {}
        for name, tensor in tensors.items():
            target = next((new + name[len(old):] for old, new in self._HEAD.items() if name.startswith(old)), None)
            if target is not None:
                head[target] = tensor
            elif not name.startswith("cls."):
                body[name] = tensor
        decoder = tensors.get("cls.predictions.decoder.weight")
        if decoder is not None and not torch.equal(decoder, tensors["bert.embeddings.word_embeddings.weight"]):
            raise DataIntegrityError("the decoder weights differ from the word embeddings; only tied heads load.")
        self.encoder.load(body)
        missing = sorted(set(self.state_dict()) - {f"encoder.{k}" for k in self.encoder.state_dict()} - set(head))
        if missing:
            raise DataIntegrityError(f"the weights lack the prediction head tensors {missing}.")
        self.load_state_dict({**{f"encoder.{k}": v for k, v in self.encoder.state_dict().items()},
                              **{k: v.float() for k, v in head.items()}})
        return self


def _init_like_bert(module: nn.Module) -> None:
    """Normal(0, 0.02) weights and zero biases, as BERT initialises (PyTorch's defaults are larger)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _full_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    return (input_ids != PAD).long() if attention_mask is None else attention_mask


def mask_tokens(
    input_ids: torch.Tensor, vocab_size: int, rate: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: returns (corrupted ids, labels); labels are -100 where nothing
    is predicted.

    Special tokens (ids below 3) are never picked. Of the picked positions 80%
    become ``[MASK]``, 10% a random word, 10% keep their word.
    """
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie strictly between 0 and 1; got {rate}.")
    if vocab_size <= len(SPECIAL):
        raise ValueError(f"vocab_size counts the {len(SPECIAL)} special tokens and at "
                         f"least one word; got {vocab_size}.")
    device = input_ids.device
    draw = torch.rand(input_ids.shape + (2,), generator=generator, device=device)
    picked = (draw[..., 0] < rate) & (input_ids >= len(SPECIAL))
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE))
    random_words = torch.randint(len(SPECIAL), vocab_size, input_ids.shape,
                                 generator=generator, device=device)
    corrupted = torch.where(picked & (draw[..., 1] < 0.8),
                            torch.full_like(input_ids, MASK), input_ids)
    corrupted = torch.where(picked & (draw[..., 1] >= 0.8) & (draw[..., 1] < 0.9),
                            random_words, corrupted)
    return corrupted, labels


def _picked_mean(model: MaskedLM, hidden: torch.Tensor, targets: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the picked positions' predictions, 0 if none is picked (no wait to ask whether any)."""
    loss = F.cross_entropy(model.predict(hidden[picked]), targets[picked], reduction="sum")
    return loss / picked.sum().clamp_min(1)


def mlm_loss(model: MaskedLM, input_ids: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy on freshly masked positions of a batch (a ``loss_fn`` for `embedkit.train.fit`).

    Only the picked positions go through the prediction head, which is most of the cost otherwise.
    ``generator``: where the masks are drawn from (torch's global one if ``None``), on the batch's device.
    """
    corrupted, labels = mask_tokens(input_ids, model.bias.shape[0], generator=generator)
    hidden = model.encoder(corrupted, _full_mask(input_ids, None))
    return _picked_mean(model, hidden, labels, labels != IGNORE)


def causal_lm_loss(model: MaskedLM, input_ids: torch.Tensor, rate: float | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy of predicting every next word (but ``[PAD]``) from the words
    before it (GPT-style; Radford et al. 2018); 0 for a batch of padding alone.

    The same network and head as `mlm_loss`, with a causal attention mask instead of
    corrupted input. ``rate``: score only a random share of the next words instead,
    each target that holds a vocabulary word picked with probability ``rate``, as
    `mask_tokens` picks (special tokens, ``[UNK]`` included, never), so that the loss
    gets about as many training signals per window as masked-word prediction.
    """
    if input_ids.ndim != 2 or input_ids.shape[1] < 2:
        raise ShapeError("input_ids must be (batch, length) with length >= 2 (a word "
                         f"and the next one); got {tuple(input_ids.shape)}.")
    hidden = model.encoder(input_ids[:, :-1], _full_mask(input_ids[:, :-1], None),
                           causal=True)
    targets = input_ids[:, 1:]
    if rate is None:  # the mean over the words that are not padding; 0 if all are
        total = F.cross_entropy(model.predict(hidden).flatten(0, 1), targets.flatten(),
                                ignore_index=PAD, reduction="sum")
        return total / (targets != PAD).sum().clamp_min(1)
    if not 0 < rate <= 1:
        raise ValueError(f"rate must lie in (0, 1]; got {rate}.")
    draw = torch.rand(targets.shape, generator=generator, device=targets.device)
    picked = (draw < rate) & (targets >= len(SPECIAL))
    return _picked_mean(model, hidden, targets, picked)


def word_windows(sentences: Sequence[Sequence[str]], vocab: Vocabulary, length: int = 64) -> torch.Tensor:
    """The corpus as consecutive windows of ``length`` word ids (+3 for the special tokens; unknown words -> [UNK]).

    Sentences are joined end to end; the last incomplete window is dropped.
    """
    length = check_whole("length", length, 2)
    index = {w: i + len(SPECIAL) for i, w in enumerate(vocab.words)}
    ids = torch.tensor([index.get(w, UNK) for s in _word_lists(sentences) for w in s], dtype=torch.long)
    if len(ids) < length:
        raise EmptyInputError(f"the corpus has {len(ids)} words, fewer than one window of {length}.")
    return ids[: len(ids) // length * length].view(-1, length)


def vocabulary_words(vocab: Vocabulary) -> list[str]:
    """The model's vocabulary in id order: the special tokens, then the words."""
    return SPECIAL + list(vocab.words)

