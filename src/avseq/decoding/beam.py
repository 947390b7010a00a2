"""One batched beam search and one greedy loop over a token-by-token decoder, shared by video
captions and speech (attention and joint CTC/attention decoding).

A search extends N = B * K running hypotheses (K per item) one token per step. The score of an
extension is a weighted sum of scorers (the attention decoder, CTC prefix scores, a language
model for shallow fusion), plus a per-token length bonus; every item keeps its K best. Finished
hypotheses either stay in the beam with their score frozen and are ranked at the end with the GNMT
length penalty (Wu et al., 2016), as for captions, or are set aside as they end, as in ESPnet's
label-synchronous search for speech (Watanabe et al., 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from avseq.decoding.scorers import DecoderScorer, StepDecoder

NEG_INF = float("-inf")
# a set-aside search stops when no running hypothesis could win even with this many more bonuses
SLACK_TOKENS = 5


@dataclass
class Hypothesis:
    """One decoded sequence: token ids (no `bos`/`eos`), its summed step scores (the
    log-probability when a decoder scores alone), the score hypotheses are ranked by (`logprob`
    over the length penalty), and attention (tokens + 1, T) including the step that emitted
    `eos` (None when no attention decoder took part)."""

    tokens: list[int]
    logprob: float
    score: float
    attention: torch.Tensor | None


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha is 0."""
    return ((5.0 + length.float()) / 6.0) ** alpha


class Scorer(Protocol):
    """Next-token scores for the N running hypotheses of a search, and the state behind them."""

    def __call__(self, words: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
        """(N,) last tokens and the (N, V) weighted sum of the scorers before this one ->
        (N, V) scores of every next token."""
        ...

    def reorder(self, source: torch.Tensor, words: torch.Tensor) -> None:
        """Keeps hypotheses `source` (N,) extended by `words` (N,)."""
        ...


def _restrict(
    step: torch.Tensor, pad: int, bos: int, eos: int, at_end: torch.Tensor
) -> torch.Tensor:
    """Never `pad` or `bos`; only `eos` in the rows `at_end` (N,) (every hypothesis ends)."""
    step[:, [pad, bos]] = NEG_INF
    others = torch.arange(step.size(1), device=step.device) != eos
    return step.masked_fill_(at_end[:, None] & others, NEG_INF)


def _until_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    """The tokens before the first `eos` or `pad`."""
    out = []
    for i in ids:
        if i in (eos, pad):
            break
        out.append(i)
    return out


@torch.no_grad()
def beam_search(
    scorers: Sequence[tuple[float, Scorer]],
    batch: int,
    beam: int,
    size: int,
    max_len: torch.Tensor,
    *,
    pad: int,
    bos: int,
    eos: int,
    length_bonus: float = 0.0,
    alpha: float = 0.0,
    finished: Literal["stay", "set_aside"] = "stay",
    attention: DecoderScorer | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search; per item, up to `beam` hypotheses best first.

    Args:
        scorers: (weight, scorer) pairs over the N = batch * beam hypotheses (item-major).
        size: the scores' vocabulary size V.
        max_len: (B,) tokens an item's hypotheses may have before `eos` is forced, on the
            search's device.
        pad, bos, eos: special ids; hypotheses start from `bos` and end with `eos`.
        length_bonus: added per emitted token other than `eos`.
        alpha: GNMT length penalty of the final ranking ("stay" only).
        finished: "stay": an ended hypothesis keeps its place with its score frozen (it
            extends by `pad`, free) and the search runs until all have ended; "set_aside": an
            ending that ranks among the best `beam` candidates of its item joins the results
            (kept apart, so running prefixes cannot push it out later; the rank keeps beam
            width 1 equal to greedy decoding and curbs the bias to short outputs), and the
            search stops once no running hypothesis can beat the item's best result.
        attention: the scorer whose attention weights results keep (None: no attention).
    """
    if finished == "set_aside" and alpha:
        raise ValueError(f"alpha={alpha}: the length penalty ranks only finished='stay' beams")
    b, k = batch, beam
    device = max_len.device
    words = torch.full((b * k,), bos, dtype=torch.long, device=device)
    scores = torch.full((b, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # all beams start equal: keep one so the first step fans out
    ended = torch.zeros(b * k, dtype=torch.bool, device=device)
    history = torch.zeros(b * k, 0, dtype=torch.long, device=device)
    maps = None  # (N, steps, T) attention of each hypothesis
    if attention is not None:
        maps = torch.zeros(b * k, 0, attention.mask.size(1), device=device)
    results: list[list[Hypothesis]] = [[] for _ in range(b)]
    floor = torch.full((b,), NEG_INF, device=device)  # the beam-th best result's score
    bonus = length_bonus * (torch.arange(size, device=device) != eos)
    offset = (torch.arange(b, device=device) * k)[:, None]
    for i in range(int(max_len.max()) + 1):
        step = torch.zeros(b * k, size, device=device)
        for weight, scorer in scorers:
            step += weight * scorer(words, step)
        if length_bonus:
            step += bonus
        _restrict(step, pad, bos, eos, (i >= max_len).repeat_interleave(k))
        weights = attention.weights.float() if attention is not None else None
        if finished == "stay":
            step[ended] = NEG_INF
            step[ended, pad] = 0.0
        cand = scores.view(-1, 1) + step  # (N, V)
        if finished == "set_aside":
            _set_aside(results, floor, cand, history, maps, weights, eos, pad)
            cand[:, eos] = NEG_INF
        scores, index = cand.view(b, -1).topk(k, dim=1)
        source = (offset + index // size).view(-1)
        words = (index % size).view(-1)
        for _, scorer in scorers:
            scorer.reorder(source, words)
        history = torch.cat([history[source], words[:, None]], 1)
        if maps is not None:
            maps = torch.cat([maps[source], weights[source][:, None]], 1)
        if finished == "stay":
            ended = ended[source] | (words == eos)
            if bool(ended.all()):
                break
        elif _none_can_win(results, scores, length_bonus):
            break
    if finished == "set_aside":
        return results
    return _ranked(history, scores, maps, alpha, eos, pad)


def _set_aside(
    results: list[list[Hypothesis]],
    floor: torch.Tensor,
    cand: torch.Tensor,
    history: torch.Tensor,
    maps: torch.Tensor | None,
    weights: torch.Tensor | None,
    eos: int,
    pad: int,
) -> None:
    """Endings (`eos` in the (N, V) `cand`) that rank among the best K candidates of their
    item and beat its (B,) `floor` join its results, which keep the K best; the floor rises to
    the K-th result's score once there are K."""
    b, k = floor.size(0), cand.size(0) // floor.size(0)
    kth = cand.view(b, -1).topk(k, dim=1).values[:, -1:]
    end_scores = cand[:, eos].view(b, k)
    joins = (end_scores >= kth) & (end_scores > floor[:, None])
    for u, j in joins.nonzero().tolist():
        row, score = u * k + j, float(end_scores[u, j])
        if score <= float(floor[u]):
            continue
        att = None
        if maps is not None and weights is not None:
            att = torch.cat([maps[row], weights[row][None]]).cpu()
        tokens = _until_eos(history[row].tolist(), eos, pad)
        results[u].append(Hypothesis(tokens, score, score, att))
        results[u] = sorted(results[u], key=lambda h: -h.score)[:k]
        if len(results[u]) == k:
            floor[u] = results[u][-1].score


def _none_can_win(
    results: list[list[Hypothesis]], scores: torch.Tensor, length_bonus: float
) -> bool:
    """Whether, in every item, the best result beats every running (B, K) score: scores only
    fall, except by the length bonus."""
    best_running = scores.max(1).values + max(0.0, length_bonus) * SLACK_TOKENS
    best_ended = torch.tensor(
        [max((h.score for h in r), default=NEG_INF) for r in results], device=scores.device
    )
    return bool((best_ended >= best_running).all())


def _ranked(
    history: torch.Tensor,
    scores: torch.Tensor,
    maps: torch.Tensor | None,
    alpha: float,
    eos: int,
    pad: int,
) -> list[list[Hypothesis]]:
    """The beams of each item, best first by log-probability over `length_penalty(alpha)`."""
    b, k = scores.shape
    ids = history.tolist()
    lengths = torch.tensor(
        [len(_until_eos(row, eos, pad)) + 1 for row in ids], device=scores.device
    ).view(b, k)
    ranked = scores / length_penalty(lengths, alpha)
    order = ranked.argsort(dim=1, descending=True)
    maps = maps.cpu() if maps is not None else None
    out = []
    for i in range(b):
        hyps = []
        for j in order[i].tolist():
            row = i * k + j
            tokens = _until_eos(ids[row], eos, pad)
            att = None if maps is None else maps[row, : min(len(tokens) + 1, maps.size(1))]
            hyps.append(Hypothesis(tokens, float(scores[i, j]), float(ranked[i, j]), att))
        out.append(hyps)
    return out


@torch.no_grad()
def decoder_beam_search(
    decoder: StepDecoder,
    states: torch.Tensor,
    mask: torch.Tensor,
    beam: int = 5,
    max_len: int = 20,
    alpha: float = 0.0,
    concepts: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """A decoder's own beam search (captions): per item, `beam` hypotheses best first by
    log-probability over `length_penalty(alpha)`; a finished beam keeps its place with its
    score frozen.

    Args:
        states: (B, T, C) encoder states; mask: (B, T) valid steps.
        max_len: tokens before `eos` is forced.
        concepts: (B, concept_size) concept logits, for a decoder that starts from them.
    """
    b = states.size(0)
    rep = lambda z: z.repeat_interleave(beam, 0)  # noqa: E731
    scorer = DecoderScorer(
        decoder, rep(states), rep(mask), rep(concepts) if concepts is not None else None
    )
    return beam_search(
        [(1.0, scorer)],
        b,
        beam,
        decoder.vocab_size,
        torch.full((b,), max_len, device=states.device),
        pad=decoder.pad,
        bos=decoder.bos,
        eos=decoder.eos,
        alpha=alpha,
        attention=scorer,
    )


@torch.no_grad()
def greedy_search(
    decoder: StepDecoder,
    states: torch.Tensor,
    mask: torch.Tensor,
    max_len: int | torch.Tensor = 20,
    concepts: torch.Tensor | None = None,
) -> list[Hypothesis]:
    """The most likely token at each step, until `eos` (forced after `max_len` tokens).

    Args:
        states: (B, T, C) encoder states; mask: (B, T) valid steps.
        max_len: the longest output, for all items or (B,) one per item (so an item's output
            never depends on what it is batched with).
        concepts: (B, concept_size) concept logits, for a decoder that starts from them.
    """
    b, device = states.size(0), states.device
    limit = torch.as_tensor(max_len, device=device).expand(b)
    scorer = DecoderScorer(decoder, states, mask, concepts)
    pad, eos = decoder.pad, decoder.eos
    words = torch.full((b,), decoder.bos, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    logprob = torch.zeros(b, device=device)
    out, attention = [], []
    for i in range(int(limit.max()) + 1):
        logp = _restrict(scorer(words, None), pad, decoder.bos, eos, limit <= i)
        best, words = logp.max(-1)
        logprob += torch.where(done, torch.zeros_like(best), best)
        words = torch.where(done, torch.full_like(words, pad), words)
        out.append(words)
        attention.append(scorer.weights.float())
        done |= words == eos
        if bool(done.all()):
            break
    ids = torch.stack(out, 1).tolist()
    att = torch.stack(attention, 1).cpu()
    hyps = []
    for i in range(b):
        tokens = _until_eos(ids[i], eos, pad)
        lp = float(logprob[i])
        hyps.append(Hypothesis(tokens, lp, lp, att[i, : min(len(tokens) + 1, att.size(1))]))
    return hyps
