"""Decoding with the recognizer's attention decoder: greedy, and a batched label-synchronous
beam search that joins the attention scores with CTC prefix scores and a language model.

Joint decoding follows Watanabe et al., 2017, "Hybrid CTC/Attention Architecture for End-to-End
Speech Recognition" (score = (1 - ctc_weight) * attention + ctc_weight * CTC prefix score
+ lm_weight * LM + length bonus per token); the CTC prefix score is their Algorithm 2, run for
every hypothesis and every candidate token at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avseq.utils.masks import frame_mask

NEG_INF = float("-inf")


def attention_greedy_texts(net, states: torch.Tensor, frames: torch.Tensor, tokenizer) -> list[str]:
    """Greedy attention transcripts for a recognizer's encoder states."""
    mask = frame_mask(frames.to(states.device), states.size(1))
    hyps = net.decoder.greedy(states, mask, max_len=int(frames.max()))
    return [tokenizer.decode(h.tokens) for h in hyps]


class CTCPrefixScorer:
    """CTC prefix scores of hypotheses that grow one token at a time.

    For a prefix g and every token c, the score is log P(g + c ... | x): the probability that
    the CTC output starts with g + c (or, for `eos`, is exactly g). Kept per hypothesis: the
    forward variables r_t^n(g), r_t^b(g) (paths ending at frame t with a non-blank / a blank)
    and the prefix's own score.

    Args:
        log_probs: (N, T, V) CTC log-probabilities (blank = 0), one row per hypothesis.
        lengths: (N,) valid frames; frames past a row's length are made certain blanks, which
            leaves every probability unchanged.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> None:
        n, t, _ = log_probs.shape
        x = log_probs.float().transpose(0, 1).clone()  # (T, N, V)
        pad = ~frame_mask(lengths.to(x.device), t).T  # (T, N)
        x[pad] = NEG_INF
        x[..., 0][pad] = 0.0
        self.x = x
        blank_run = torch.cumsum(x[..., 0], dim=0)  # the empty prefix: blanks only
        self.r = torch.stack([torch.full_like(blank_run, NEG_INF), blank_run], -1)  # (T, N, 2)
        self.psi = x.new_zeros(n)
        self.last = torch.full((n,), -1, dtype=torch.long, device=x.device)
        self.length = 0  # tokens in every running prefix (they grow together)

    def scores(self, candidates: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix scores of g + c for the (N, M) `candidates` c of each hypothesis (default:
        every token; the blank scores -inf) -> (N, M) scores, and the (N,) scores of ending
        here (g + eos). `advance` then picks among these extensions."""
        x, r = self.x, self.r
        t_max, n, v = x.shape
        if candidates is None:
            candidates = torch.arange(v, device=x.device).expand(n, v)
        m = candidates.size(1)
        xc = x.gather(2, candidates[None].expand(t_max, n, m))  # (T, N, M)
        both = torch.logaddexp(r[..., 0], r[..., 1])  # (T, N)
        repeat = (candidates == self.last[:, None])[None]  # a repeat needs a blank between
        phi = torch.where(repeat, r[..., 1:2], both[..., None])  # (T, N, M)
        rn = x.new_full((t_max, n, m), NEG_INF)  # paths of g + c ending in c at frame t
        rb = x.new_full((t_max, n, m), NEG_INF)  # ... ending in a blank
        if self.length == 0:
            rn[0] = xc[0]
        psi = rn[0].clone()
        blank = x[..., 0:1]
        # a prefix of length L + 1 cannot end before frame L: skip the frames before
        for t in range(max(1, self.length), t_max):
            rn[t] = torch.logaddexp(rn[t - 1], phi[t - 1]) + xc[t]
            rb[t] = torch.logaddexp(rn[t - 1], rb[t - 1]) + blank[t]
            psi = torch.logaddexp(psi, phi[t - 1] + xc[t])
        psi = psi.masked_fill(candidates == 0, NEG_INF)
        ends = torch.logaddexp(r[-1, :, 0], r[-1, :, 1])
        self._new, self._candidates = (rn, rb), candidates
        return psi, ends

    def advance(self, source: torch.Tensor, token: torch.Tensor, psi: torch.Tensor) -> None:
        """Keeps hypotheses `source` (N,) extended by token `token` (N,), one of the
        candidates last scored (any other token, e.g. padding, leaves a hypothesis as it
        was), with their scores `psi` (N,)."""
        match = self._candidates[source] == token[:, None]  # (N, M)
        grow = match.any(1) & (token > 0)
        pos = match.float().argmax(1)
        rn, rb = self._new
        extended = torch.stack([rn[:, source, pos], rb[:, source, pos]], -1)  # (T, N, 2)
        kept = self.r[:, source]
        self.r = torch.where(grow[None, :, None], extended, kept)
        self.psi = torch.where(grow, psi, self.psi[source])
        self.last = torch.where(grow, token, self.last[source])
        self.length += 1
        del self._new, self._candidates


def psi_of(
    psi: torch.Tensor, candidates: torch.Tensor | None, source: torch.Tensor, words: torch.Tensor
) -> torch.Tensor:
    """The prefix score of each kept hypothesis: its source's score for the chosen token
    (-inf when that token was not a candidate, i.e. `eos` or padding)."""
    if candidates is None:
        return psi[source, words.clamp(max=psi.size(1) - 1)]
    match = candidates[source] == words[:, None]
    picked = psi[source].gather(1, match.float().argmax(1, keepdim=True))[:, 0]
    return torch.where(match.any(1), picked, torch.full_like(picked, NEG_INF))


@dataclass
class BeamResult:
    """One transcript hypothesis: CTC token ids, its total score, and attention (steps, T)
    (None when the attention decoder took no part)."""

    tokens: list[int]
    score: float
    attention: torch.Tensor | None


@torch.no_grad()
def joint_beam_search(
    net,
    states: torch.Tensor,
    frames: torch.Tensor,
    ctc_logits: torch.Tensor | None,
    beam: int = 5,
    ctc_weight: float = 0.3,
    lm=None,
    lm_weight: float = 0.0,
    length_bonus: float = 0.0,
    keep_attention: bool = False,
    pre_beam: float = 1.5,
) -> list[list[BeamResult]]:
    """Label-synchronous beam search over a batch of utterances, `beam` results each, best
    first.

    Args:
        net: a `SpeechRecognizer` (its attention decoder is used unless ctc_weight is 1).
        states: (B, T, C) encoder states; frames: (B,) valid frames.
        ctc_logits: (B, T, V) CTC logits (needed when ctc_weight > 0).
        ctc_weight: 0 = attention only, 1 = CTC prefix scores only.
        lm: an `RNNLanguageModel` over the same tokens, for shallow fusion (or None).
        lm_weight: weight of the LM's log-probabilities.
        length_bonus: added per emitted token (offsets the LM's and CTC's bias to short
            outputs).
        keep_attention: return each result's attention weights (for plots).
        pre_beam: with the attention decoder, CTC prefix scores are computed only for the
            `pre_beam * beam` tokens the decoder (and LM) rank best at each step, as in
            ESPnet; the others are not considered.
    """
    dec = net.decoder
    use_att = ctc_weight < 1.0
    if use_att and dec is None:
        raise ValueError("attention decoding needs a recognizer with an attention decoder")
    if ctc_weight > 0 and ctc_logits is None:
        raise ValueError("ctc_weight > 0 needs the CTC logits")
    b, t, _ = states.shape
    k = beam
    vocab = net.head.proj.out_features  # CTC tokens, blank = 0
    bos, eos = vocab, vocab + 1
    size = vocab + 2
    device = states.device
    frames = frames.to(device)
    rep = lambda z: z.repeat_interleave(k, 0)  # noqa: E731
    mask = rep(frame_mask(frames, t))
    if use_att:
        att_states = rep(states)
        dec_state, keys = dec.start(att_states, mask)
    ctc = None
    if ctc_weight > 0:
        ctc = CTCPrefixScorer(rep(ctc_logits.float().log_softmax(-1)), rep(frames))
    lm_state = lm.start(b * k, device) if lm is not None and lm_weight else None
    # an utterance's hypotheses are no longer than its frames (CTC needs a frame per token);
    # each ends with <eos> by then at the latest
    words = torch.full((b * k,), bos, dtype=torch.long, device=device)
    scores = torch.full((b, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # all beams start equal: keep one so the first step fans out
    history = torch.zeros(b * k, 0, dtype=torch.long, device=device)
    keep_attention = keep_attention and use_att
    attention = states.new_zeros(b * k, 0, t, dtype=torch.float) if keep_attention else None
    n_pre = min(vocab - 1, max(1, int(pre_beam * k)))
    ended: list[list[BeamResult]] = [[] for _ in range(b)]
    floor = torch.full((b,), NEG_INF, device=device)  # the beam-th best ended score
    max_len = int(frames.max())
    too_long = torch.arange(max_len + 1, device=device)[None, :] >= frames[:, None]  # (B, L)
    offset = (torch.arange(b, device=device) * k)[:, None]
    for i in range(max_len + 1):
        step = torch.zeros(b * k, size, device=device)
        if use_att:
            logits, dec_state, weights = dec.step(words, dec_state, att_states, mask, keys)
            step += (1 - ctc_weight) * logits.float().log_softmax(-1)
        if lm_state is not None:
            lm_logp, lm_next = lm.step(words, lm_state)
            step += lm_weight * lm_logp
        if ctc is not None:
            candidates = None
            if use_att:  # pre-beam: CTC scores for the best few tokens only
                candidates = step[:, 1:vocab].topk(n_pre, dim=1).indices + 1
            psi, ends = ctc.scores(candidates)
            delta = torch.full_like(step, NEG_INF)
            if candidates is None:
                delta[:, :vocab] = psi - ctc.psi[:, None]
            else:
                delta.scatter_(1, candidates, psi - ctc.psi[:, None])
            delta[:, eos] = ends - ctc.psi
            step += ctc_weight * delta
        step[:, :vocab] += length_bonus
        step[:, 0] = NEG_INF  # blank / padding
        step[:, bos] = NEG_INF
        step[too_long[:, i].repeat_interleave(k), :eos] = NEG_INF  # as long as it may be
        cand = scores.view(-1, 1) + step  # (B*K, size)
        # an ending that ranks among the best `beam` candidates of its utterance joins the
        # results (kept apart, so running prefixes cannot push it out later); requiring the
        # rank keeps beam width 1 equal to greedy decoding and curbs the bias to short outputs
        kth = cand.view(b, -1).topk(k, dim=1).values[:, -1:]
        end_scores = cand[:, eos].view(b, k)
        joins = (end_scores >= kth) & (end_scores > floor[:, None])
        for u, j in joins.nonzero().tolist():
            row = u * k + j
            score = float(end_scores[u, j])
            if score <= float(floor[u]):
                continue
            att = None
            if keep_attention:
                att = torch.cat([attention[row], weights[row].float()[None]]).cpu()
            ended[u].append(BeamResult(history[row].tolist(), score, att))
            ended[u] = sorted(ended[u], key=lambda r: -r.score)[:beam]
            if len(ended[u]) == beam:
                floor[u] = ended[u][-1].score
        cand[:, eos] = NEG_INF
        scores, index = cand.view(b, -1).topk(k, dim=1)
        source = (offset + index // size).view(-1)
        words = (index % size).view(-1)
        if use_att:
            dec_state = tuple(part[source] for part in dec_state)
        if keep_attention:
            attention = torch.cat([attention[source], weights.float()[source][:, None]], 1)
        if ctc is not None:
            ctc.advance(source, words, psi_of(psi, candidates, source, words))
        if lm_state is not None:
            lm_state = tuple(part[:, source] for part in lm_next)
        history = torch.cat([history[source], words[:, None]], 1)
        # stop once no running hypothesis can still beat an utterance's best ended one:
        # scores only fall, except by the length bonus
        best_running = scores.max(1).values + max(0.0, length_bonus) * 5
        best_ended = torch.tensor(
            [max((r.score for r in e), default=NEG_INF) for e in ended], device=device
        )
        if bool((best_ended >= best_running).all()):
            break
    out = []
    for u in range(b):
        results = ended[u]
        for r in results:
            r.tokens = [w for w in r.tokens if 0 < w < vocab]
        out.append(results)
    return out
