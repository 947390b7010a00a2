"""CTC decoding: best-path (greedy), and beam search (flashlight-text) with an optional
lexicon and language model."""

from __future__ import annotations

from pathlib import Path

import torch


def ctc_greedy(logits: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        logits: (B, T, V) scores (log-probabilities or logits).
        lengths: (B,) valid frames per sequence.
        blank: the blank index.

    Returns:
        One list of token ids per sequence.
    """
    best = logits.argmax(dim=-1).cpu()  # (B, T)
    out = []
    for seq, n in zip(best, lengths.cpu().tolist(), strict=True):
        ids = torch.unique_consecutive(seq[:n])
        out.append([i for i in ids.tolist() if i != blank])
    return out


def ctc_greedy_texts(logits: torch.Tensor, lengths: torch.Tensor, tokenizer) -> list[str]:
    """Greedy decoding straight to text with `tokenizer` (blank = tokenizer.blank)."""
    return [tokenizer.decode(ids) for ids in ctc_greedy(logits, lengths, tokenizer.blank)]


class _FusedLM:
    """Wraps an `RNNLanguageModel` as a flashlight-text language model over tokens
    (lexicon-free decoding): each decoder state is a token prefix; a prefix's LSTM state is
    computed only when the search extends that prefix, so pruned prefixes cost nothing."""

    def __init__(self, lm) -> None:
        from torchaudio.models.decoder import CTCDecoderLM

        outer = self

        class _LM(CTCDecoderLM):
            def start(self, start_with_nothing: bool):
                return outer.start()

            def score(self, state, usr_token_idx: int):
                return outer.score(state, usr_token_idx)

            def finish(self, state):
                return outer.score(state, outer.lm.eos)

        self.lm = lm
        self.flashlight_lm = _LM()
        self.cache: dict = {}  # state -> (lstm state, next-token log-probs) once computed
        self.pending: dict = {}  # state -> (parent state, token) until computed

    def start(self):
        from torchaudio.models.decoder import CTCDecoderLMState

        self.cache.clear()
        self.pending.clear()
        root = CTCDecoderLMState()
        with torch.inference_mode():
            bos = torch.tensor([self.lm.bos])
            logp, state = self.lm.step(bos, self.lm.start(1))
        self.cache[root] = (state, logp[0].tolist())
        return root

    def _resolve(self, state):
        if state not in self.cache:
            parent, token = self.pending.pop(state)
            parent_state, _ = self._resolve(parent)
            with torch.inference_mode():
                logp, lstm = self.lm.step(torch.tensor([token]), parent_state)
            self.cache[state] = (lstm, logp[0].tolist())
        return self.cache[state]

    def score(self, state, token: int):
        _, logp = self._resolve(state)
        child = state.child(token)
        if child not in self.cache and child not in self.pending:
            self.pending[child] = (state, token)
        return child, logp[token]


class CTCBeamSearch:
    """CTC beam search with torchaudio's flashlight-text decoder: lexicon-free or constrained
    to a word list (lexicon), with optional language-model fusion.

    Args:
        tokenizer: the recognizer's tokenizer (characters or SentencePiece pieces).
        beam: hypotheses kept per frame.
        lexicon: words the output may contain (spelled with the tokenizer's units), or
            None for lexicon-free decoding.
        lm: an `RNNLanguageModel` over the same tokens (lexicon-free only), a KenLM ARPA or
            binary file (words; lexicon mode only), or None.
        lm_weight: weight of the LM's log-probabilities.
        word_score: added per word (lexicon mode) or per space token (lexicon-free).
        beam_threshold: prune hypotheses this far below the best.
    """

    def __init__(
        self,
        tokenizer,
        beam: int = 16,
        lexicon: list[str] | None = None,
        lm=None,
        lm_weight: float = 0.5,
        word_score: float = 0.0,
        beam_threshold: float = 25.0,
    ) -> None:
        import tempfile

        try:
            from torchaudio.models.decoder import ctc_decoder
        except ImportError as err:  # pragma: no cover - flashlight-text is a dependency
            raise RuntimeError(f"CTC beam search needs flashlight-text ({err})") from None

        self.tokenizer = tokenizer
        blank = "<blank>"
        tokens = [blank, *tokenizer.units]
        # characters: words end at the space token; subword pieces mark word starts themselves,
        # and the blank stands in for the silence token flashlight needs
        boundary = tokenizer.word_boundary or blank
        if boundary not in tokens:
            raise ValueError("CTC beam search needs a space in the tokenizer's alphabet")
        self._fused = None
        lm_arg = None
        if lm is not None and not isinstance(lm, str | Path):
            if lexicon is not None:
                raise ValueError(
                    "a recurrent LM works with lexicon-free beam search; with a lexicon, "
                    "use a KenLM word model (ARPA or binary file)"
                )
            self._fused = _FusedLM(lm)
            lm_arg = self._fused.flashlight_lm
        elif lm is not None:
            if lexicon is None:
                raise ValueError("a KenLM word model needs a lexicon (the words it knows)")
            lm_arg = str(lm)
        self._tmp = tempfile.TemporaryDirectory(prefix="avseq-lexicon-")
        lexicon_path = None
        if lexicon is not None:
            words = sorted(
                {w for w in lexicon if w and " " not in w and not tokenizer.invalid_chars(w)}
            )
            if not words:
                raise ValueError("the lexicon has no word spelled with the tokenizer's units")
            lexicon_path = Path(self._tmp.name) / "lexicon.txt"
            lexicon_path.write_text("".join(f"{w} {' '.join(tokenizer.spell(w))}\n" for w in words))
        self.decoder = ctc_decoder(
            lexicon=str(lexicon_path) if lexicon_path else None,
            tokens=tokens,
            lm=lm_arg,
            nbest=1,
            beam_size=beam,
            beam_threshold=beam_threshold,
            lm_weight=lm_weight if lm is not None else 0.0,
            word_score=word_score,
            # lexicon-free decoding scores words only through the space token ("|"); with
            # subword pieces that token is the blank, which must not be scored
            sil_score=word_score if lexicon is None and tokenizer.word_boundary else 0.0,
            blank_token=blank,
            sil_token=boundary,
        )

    def __call__(self, logits: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """(B, T, V) logits, (B,) frames -> transcripts."""
        emissions = logits.detach().float().log_softmax(-1).cpu().contiguous()
        lengths = lengths.detach().cpu().to(torch.int32)
        texts = []
        for i in range(emissions.size(0)):  # one at a time: the fused LM's cache is per utterance
            hyp = self.decoder(emissions[i : i + 1], lengths[i : i + 1])[0][0]
            ids = [t for t in hyp.tokens.tolist() if t != self.tokenizer.blank]
            texts.append(" ".join(self.tokenizer.decode(ids).split()))
        return texts
