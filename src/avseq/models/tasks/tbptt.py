"""Truncated backpropagation through time (Williams and Peng, 1990; Sutskever, 2013, ch. 3.1)
within one optimizer step: a long sequence is run in chunks of k steps, the recurrent state
carried from chunk to chunk but detached, so each chunk's loss backpropagates k steps at most
and memory holds one chunk's graph however long the sequence is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def detach_state(state: Any) -> Any:
    """The recurrent state (a tensor or a tuple of them, e.g. LSTM (h, c)) cut from its graph."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def truncated_bptt(
    run_chunk: Callable[[slice, Any], tuple[torch.Tensor, Any]],
    length: int,
    steps: int,
    params: Sequence[torch.nn.Parameter],
    loss_scale: float = 1.0,
) -> torch.Tensor:
    """The loss of a sequence of `length` steps run in chunks of `steps`, for one backward.

    Its value is the sum of the chunks' losses (the same as running the sequence whole); its
    gradient is the truncated one. Every chunk but the last is differentiated here
    (`torch.autograd.grad`, which frees its graph at once) and its gradients are summed; they
    ride back in the returned loss as a term of value 0 whose gradient is that sum. So the
    caller sees one loss and one backward: Lightning's loss scaler, gradient clipping, DDP
    gradient reduction and the tasks' non-finite checks treat it as any other.

    Args:
        run_chunk: (time slice, state from the previous chunk or None) -> (the chunk's loss, the
            state after it); the loss is already normalised (e.g. divided by all the tokens).
        length: steps in the sequence; steps: steps per chunk (>= 1).
        params: the parameters the gradients are for (those the optimizer steps).
        loss_scale: the mixed-precision loss scale (1 without a scaler): earlier chunks are
            differentiated at this scale, so float16 gradients do not underflow.
    """
    if length < 1 or steps < 1:
        raise ValueError(f"truncated BPTT needs length >= 1 and steps >= 1, got {length}, {steps}")
    state, carried, earlier = None, None, None
    for start in range(0, length, steps):
        loss, state = run_chunk(slice(start, min(start + steps, length)), state)
        if start + steps >= length:
            break
        grads = torch.autograd.grad(loss * loss_scale, params, allow_unused=True)
        if carried is None:
            carried = [torch.zeros_like(p) for p in params]
        for total, g in zip(carried, grads, strict=True):
            if g is not None:
                total.add_(g, alpha=1.0 / loss_scale)
        earlier = loss.detach() if earlier is None else earlier + loss.detach()
        state = detach_state(state)
    if carried is None:  # one chunk: plain backpropagation through time
        return loss
    term = torch.stack([(p * g).sum() for p, g in zip(params, carried, strict=True)]).sum()
    return loss + earlier + (term - term.detach())
