"""One training loop for the book's neural networks: minibatches, Adam, early stopping, any device.

`fit` trains a model on tensors with a loss function you pass
(``loss_fn(model, *batch) -> mean loss``), so the same loop serves
autoencoders (``batch = (images,)``), VAEs (the loss is the negative ELBO) and
classifiers (``batch = (images, labels)``). It shuffles with its own seeded
generator, keeps the data on the model's device, shows a progress bar in
interactive use, evaluates a validation split after every epoch, stops early
when the validation loss has not improved for ``patience`` epochs, and restores
the best weights. `batched` runs a function over a large tensor in chunks
(embedding 60,000 images at once would need a lot of memory).

Left out: schedules other than cosine annealing, gradient clipping, mixed precision and
checkpointing to disk; the models in the book train in seconds to minutes.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from .device import get_device, seeded_generator, synchronize
from .errors import EmptyInputError, ShapeError, check_finite, check_positive
from .progress import progress

LossFn = Callable[..., torch.Tensor]


class History(list):
    """What every training function in embedkit returns: one dict per epoch, plus two attributes.

    Each row holds ``"epoch"`` (counting from 1) and that epoch's numbers (`fit`: ``"train loss"`` and
    ``"val loss"``; Word2Vec: ``"loss"``, ``"examples"``, ``"words"``; matrix factorisation: ``"train rmse"``,
    ``"test rmse"``), so ``pandas.DataFrame(history)`` is a table. ``best_epoch`` is the number of the epoch
    whose weights were kept (the last one, unless validation data were given and an earlier epoch had the
    lowest validation loss: `fit` restores that one, with or without early stopping), ``seconds`` the
    training time.
    """

    def __init__(self, rows: Iterable[dict] = (), best_epoch: int = 0, seconds: float = 0.0) -> None:
        super().__init__(rows)
        self.best_epoch, self.seconds = best_epoch, seconds
        self._started = time.perf_counter()  # training starts when its History is made

    def finish(self, device: torch.device) -> "History":
        """Stop the clock once the device has finished (``seconds``); without early stopping the kept
        epoch is the last one."""
        synchronize(device)
        self.seconds = time.perf_counter() - self._started
        self.best_epoch = self.best_epoch or len(self)
        return self

    def column(self, key: str) -> list[float]:
        """The values of ``key`` over the epochs that recorded it."""
        return [row[key] for row in self if key in row]

    @property
    def train(self) -> list[float]:
        """`fit`'s mean training loss per epoch."""
        return self.column("train loss")

    @property
    def val(self) -> list[float]:
        """`fit`'s validation loss per epoch (empty without validation data)."""
        return self.column("val loss")

    def __repr__(self) -> str:
        return f"History({list.__repr__(self)}, best_epoch={self.best_epoch}, seconds={self.seconds:.3g})"


def check_lr(lr: float) -> None:
    """A ValueError unless the learning rate ``lr`` is a positive finite number."""
    check_finite("lr", lr, hint=" Pass a small positive step such as the default (with 0 nothing is learned, "
                                "a negative lr climbs the loss).")


def finite_parameters(model: nn.Module) -> bool:
    """True when no parameter of ``model`` holds NaN or infinity: the divergence check once per epoch (one wait
    for the device, not one per parameter)."""
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def _check(tensors: tuple[torch.Tensor, ...], what: str) -> int:
    if isinstance(tensors, torch.Tensor):
        raise TypeError(f"{what} must be a tuple of tensors, e.g. (x,) or (x, y); got a single tensor.")
    if not tensors or any(not isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"{what} must be a non-empty tuple of tensors.")
    n = len(tensors[0])
    if n == 0:
        raise EmptyInputError(f"{what} holds no examples.")
    if any(len(t) != n for t in tensors):
        raise ShapeError(f"the tensors in {what} have different lengths: {[len(t) for t in tensors]}.")
    return n


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, tensors: tuple[torch.Tensor, ...], batch_size: int = 1024) -> float:
    """Mean of ``loss_fn`` over ``tensors`` in evaluation mode (weighted by batch size)."""
    n = _check(tensors, "the data")
    check_positive("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, n, batch_size):
        batch = [t[start:start + batch_size].to(device) for t in tensors]
        total += float(loss_fn(model, *batch)) * len(batch[0])
    model.train(was_training)
    return total / n


def fit(model: nn.Module, loss_fn: LossFn, train: tuple[torch.Tensor, ...], val: tuple[torch.Tensor, ...] | None = None,
        epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
        patience: int | None = None, cosine: bool = False, seed: int = 0,
        device: str | torch.device | None = None, desc: str = "training",
        on_epoch: Callable[[int, nn.Module], None] | None = None) -> History:
    """Train ``model`` in place with Adam on minibatches of ``train``; return the `History`.

    With ``val`` given, the weights of the epoch with the lowest validation
    loss are restored at the end, and training stops after ``patience`` epochs
    without improvement (``None``: never stop early). ``cosine=True`` anneals
    the learning rate from ``lr`` to zero over ``epochs`` (Loshchilov and Hutter
    2017), which lets minibatch noise settle at the end. ``on_epoch(epoch, model)``,
    if given, is called after every epoch (epoch counts from 1; the chapters use it
    to probe a representation as it is learned).

    Raises ValueError for an ``lr`` that is not a positive finite number.
    """
    n = _check(train, "train")
    if val is not None:
        _check(val, "val")
    check_positive("epochs", epochs), check_positive("batch_size", batch_size)
    check_lr(lr)
    device = get_device(device)
    model.to(device)
    data = [t.to(device) for t in train]
    order_rng = seeded_generator(seed)  # checks the seed
    torch.manual_seed(seed)  # dropout and sampling noise inside the model
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)) if cosine else 1.0)
    history, best, best_state, waited = History(), float("inf"), None, 0
    model.train()
    for epoch in progress(range(epochs), total=epochs, desc=desc):
        order = torch.randperm(n, generator=order_rng).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            loss = loss_fn(model, *(t[index] for t in data))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach() * len(index)
        row = {"epoch": epoch + 1, "train loss": float(total) / n}
        history.append(row)
        if not torch.isfinite(total):
            raise FloatingPointError(f"the training loss became {float(total)} in epoch {epoch + 1}; lower lr.")
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
            model.train()
        if val is None:
            history.best_epoch = epoch + 1
            continue
        row["val loss"] = evaluate(model, loss_fn, val, batch_size=max(batch_size, 1024))
        if not math.isfinite(row["val loss"]):
            raise FloatingPointError(f"the validation loss became {row['val loss']} in epoch {epoch + 1} while the "
                                     "training loss stayed finite; check the validation data for NaN or inf.")
        if row["val loss"] < best:
            best, best_state, waited, history.best_epoch = row["val loss"], copy.deepcopy(model.state_dict()), 0, epoch + 1
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history.finish(device)


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor | np.ndarray | list,
            batch_size: int = 2048, device: str | torch.device | None = None) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks on ``device``, without gradients; the results concatenated on
    ``x``'s device (a tuple of tensors for an ``fn`` that returns a tuple, each concatenated).

    ``device`` defaults to the device of the module whose method ``fn`` is
    (``batched(model.embed, x)``), else to `get_device`'s choice. The results come back to where ``x``
    is, so data kept on the CPU stream through a GPU and come back ready for numpy and matplotlib.
    A numpy array or a list is turned into a tensor first (``torch.as_tensor``, its dtype kept).
    """
    x = torch.as_tensor(x)  # a tensor passes through unchanged
    owner = getattr(fn, "__self__", fn)
    if device is None and isinstance(owner, nn.Module) and any(True for _ in owner.parameters()):
        device = next(owner.parameters()).device
    device = get_device(device)
    if len(x) == 0:
        raise EmptyInputError("nothing to process: the input is empty.")
    check_positive("batch_size", batch_size)
    parts = [fn(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat([part.to(x.device) for part in column]) for column in zip(*parts))
    return torch.cat([part.to(x.device) for part in parts])
