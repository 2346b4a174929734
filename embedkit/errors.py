"""The specific exceptions `embedkit` raises for bad input.

Each one subclasses the built-in exception a caller would expect (``KeyError``,
``ValueError``, ``FileNotFoundError``...), so ``except ValueError`` still works,
and each message says what to do next. `check_whole` and `check_positive` (counts, seeds), `check_flag`
(switches), `check_finite` (rates, penalties) and `check_ids` (integer ids, in range) are the argument checks that
many modules share.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np
import torch


class _UnquotedKeyError(KeyError):
    """A KeyError whose message prints as written (KeyError would otherwise quote it)."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownWordError(_UnquotedKeyError):
    """A word (or several) is not in the vocabulary of an embedding table."""

    def __init__(self, words: list[str], hint: str = "") -> None:
        self.words = list(words)
        shown = ", ".join(repr(w) for w in self.words[:10])
        more = f" (and {len(self.words) - 10} more)" if len(self.words) > 10 else ""
        msg = f"not in the vocabulary: {shown}{more}."
        msg += hint or " Check the spelling, or test membership first with `word in table`."
        super().__init__(msg)
        self.message = msg


class UnknownIDError(_UnquotedKeyError):
    """A user or item ID that the model never saw in training."""


class UnknownNameError(_UnquotedKeyError):
    """A name (a data file, a pretrained model) that the library does not know; the message lists the known ones."""


class EmptyInputError(ValueError):
    """An input that must hold at least one item is empty."""


class ShapeError(ValueError):
    """A tensor or array has the wrong number of dimensions or the wrong size."""


class DataNotFoundError(FileNotFoundError):
    """A data file, or the package that ships it, is not installed."""


class DataIntegrityError(ValueError):
    """A data file exists but its checksum or its content is wrong."""


class DeviceUnavailableError(RuntimeError):
    """The requested torch device does not exist on this machine."""


def is_whole(value: object) -> bool:
    """True for a whole number given as an integer (Python or numpy), False for a bool: True is an int in Python,
    but not a count."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_whole(name: str, value: int, minimum: int = 0) -> int:
    """``value`` as an int if it is a whole number (a Python or numpy integer) of at least ``minimum``: a seed, a
    number of iterations; a ValueError that names it otherwise (2.5, "3", True, a number below ``minimum``)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return number


def check_positive(name: str, value: int) -> int:
    """``value`` as an int if it is a whole number of at least 1 (a batch size, a k: a Python or numpy integer);
    a ValueError that names it otherwise (2.5, True, 0, -1)."""
    return check_whole(name, value, 1)


def check_flag(name: str, value: bool) -> bool:
    """``value`` as a bool if it is True or False (or 1 or 0, as gensim writes ``sg=1``); a ValueError that names it
    otherwise: a string such as "false" would read as True."""
    if isinstance(value, (bool, np.bool_)) or (is_whole(value) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be True or False; got {value!r}.")


def check_finite(name: str, value: float, allow_zero: bool = False, why: str = "", hint: str = "") -> None:
    """A ValueError that names ``value`` unless it is a finite number above 0 (at least 0 with ``allow_zero``):
    a learning rate or a penalty. ``why`` follows the rule in the message, ``hint`` ends it."""
    number = math.nan
    if not isinstance(value, (str, bytes, bool)):
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
    if not ((0 <= number) if allow_zero else (0 < number)) or number == math.inf:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite number{why}; got {value!r}.{hint}")


def check_real(name: str, x: object) -> None:
    """A TypeError if ``x`` (a tensor, an array or a list) holds complex numbers: every cast to float here would
    drop their imaginary parts without a word."""
    if x.is_complex() if isinstance(x, torch.Tensor) else np.iscomplexobj(x):
        raise TypeError(f"{name} hold complex numbers; embedkit works with real numbers, and a cast would drop the "
                        "imaginary parts. Pass x.real (or x.abs()) if that is what you mean.")


def check_ids(name: str, ids: torch.Tensor, n: int | None = None, hint: str = "",
              error: type[Exception] = IndexError) -> torch.Tensor:
    """``ids`` (a tensor of integers: ids, indices, codes, labels) as int32/int64, ready to index with.

    A TypeError if it is not a tensor or holds floats, complex numbers or booleans (a cast would truncate 2.7 to 2;
    a bool or uint8 index would act as a mask). With ``n``, an ``error`` unless every id lies in ``[0, n)``:
    reading the range makes a GPU wait, so callers check once per call, never per step. ``hint`` (what to do)
    ends both messages."""
    hint = f" {hint}" if hint else ""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of integer ids; got {type(ids).__name__}. Wrap it with "
                        f"torch.as_tensor first.{hint}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be integers; got dtype {ids.dtype}. Convert whole numbers with .long().{hint}")
    if ids.dtype not in (torch.int32, torch.int64):
        ids = ids.long()
    if n is not None and ids.numel():
        low, high = torch.stack(torch.aminmax(ids)).tolist()  # one wait for the device, not two
        if low < 0 or high >= n:
            raise error(f"{name} must lie in 0..{n - 1}; got {low} to {high} (negative ids are not counted from "
                        f"the end).{hint}")
    return ids
