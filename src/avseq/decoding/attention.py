"""Speech decoding with the recognizer's attention decoder: greedy transcripts, and the
label-synchronous beam search (`avseq.decoding.beam`) that joins the attention scores with CTC
prefix scores and a language model.

Joint decoding follows Watanabe et al., 2017, "Hybrid CTC/Attention Architecture for End-to-End
Speech Recognition" (score = (1 - ctc_weight) * attention + ctc_weight * CTC prefix score
+ lm_weight * LM + length bonus per token); the CTC prefix score is their Algorithm 2, run for
every hypothesis and every candidate token at once.
"""

from __future__ import annotations

import torch

from avseq.decoding.beam import NEG_INF, Hypothesis, Scorer, beam_search, greedy_search
from avseq.decoding.scorers import DecoderScorer, LMScorer
from avseq.utils.masks import frame_mask


def attention_greedy_texts(net, states: torch.Tensor, frames: torch.Tensor, tokenizer) -> list[str]:
    """Greedy attention transcripts for a recognizer's (B, T, C) encoder states and (B,)
    frames (each at most as many tokens as its utterance has frames)."""
    mask = frame_mask(frames.to(states.device), states.size(1))
    hyps = greedy_search(net.decoder, states, mask, max_len=frames.to(states.device))
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


class CTCScorer:
    """CTC prefix scores as a beam-search scorer: the change in each hypothesis's prefix
    score that a token (or `eos`, the end) brings.

    Args:
        log_probs: (N, T, V) CTC log-probabilities (blank = 0), one row per hypothesis.
        lengths: (N,) valid frames.
        eos: the id of the end in the search's scores (those have more ids than CTC's V).
        pre_beam: score only the `pre_beam` tokens the scorers before this one rank best, as
            in ESPnet (the others score -inf); None for every token.
    """

    def __init__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, eos: int, pre_beam: int | None
    ) -> None:
        self.prefix = CTCPrefixScorer(log_probs, lengths)
        self.vocab, self.eos, self.pre_beam = log_probs.size(-1), eos, pre_beam

    def __call__(self, words: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
        """(N, V) partial scores -> (N, V) change in prefix score per token (-inf for the
        blank, `bos` and tokens outside the pre-beam)."""
        candidates = None
        if self.pre_beam is not None:
            candidates = partial[:, 1 : self.vocab].topk(self.pre_beam, dim=1).indices + 1
        psi, ends = self.prefix.scores(candidates)
        delta = torch.full_like(partial, NEG_INF)
        if candidates is None:
            delta[:, : self.vocab] = psi - self.prefix.psi[:, None]
        else:
            delta.scatter_(1, candidates, psi - self.prefix.psi[:, None])
        delta[:, self.eos] = ends - self.prefix.psi
        self.psi, self.candidates = psi, candidates
        return delta

    def reorder(self, source: torch.Tensor, words: torch.Tensor) -> None:
        self.prefix.advance(source, words, psi_of(self.psi, self.candidates, source, words))


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
) -> list[list[Hypothesis]]:
    """Label-synchronous beam search over a batch of utterances, up to `beam` results each,
    best first; a result's `score` (= `logprob`) is its joint score.

    An utterance's hypotheses are no longer than its frames (CTC needs a frame per token);
    each ends with `eos` by then at the latest. Endings are set aside as they rank among the
    best (see `beam_search`).

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
    use_att = ctc_weight < 1.0
    if use_att and net.decoder is None:
        raise ValueError("attention decoding needs a recognizer with an attention decoder")
    if ctc_weight > 0 and ctc_logits is None:
        raise ValueError("ctc_weight > 0 needs the CTC logits")
    b, t, _ = states.shape
    k = beam
    vocab = net.head.proj.out_features  # CTC tokens, blank = 0; then bos, eos
    device = states.device
    frames = frames.to(device)
    rep = lambda z: z.repeat_interleave(k, 0)  # noqa: E731
    scorers: list[tuple[float, Scorer]] = []
    decoder = None
    if use_att:
        decoder = DecoderScorer(net.decoder, rep(states), rep(frame_mask(frames, t)))
        scorers.append((1 - ctc_weight, decoder))
    if lm is not None and lm_weight:
        scorers.append((lm_weight, LMScorer(lm, b * k, device)))
    if ctc_weight > 0:
        n_pre = min(vocab - 1, max(1, int(pre_beam * k))) if use_att else None
        log_probs = rep(ctc_logits.float().log_softmax(-1))
        scorers.append((ctc_weight, CTCScorer(log_probs, rep(frames), vocab + 1, n_pre)))
    return beam_search(
        scorers,
        b,
        k,
        vocab + 2,
        frames,
        pad=0,
        bos=vocab,
        eos=vocab + 1,
        length_bonus=length_bonus,
        finished="set_aside",
        attention=decoder if keep_attention else None,
    )
