"""Speech decoders side by side: WER, CER and decoding speed of one checkpoint, decoded with
CTC greedy, CTC beam, CTC beam + LM, CTC beam + lexicon + word n-gram LM, attention beam, and
joint CTC/attention + LM.

    python -m avseq.bench.decoding --checkpoint CKPT --lm LM_CKPT [--word-lm WORDS.arpa]
        [--manifest M.jsonl] [--beam 8] [--lm-weight 0.5] [--ctc-weight 0.3] [--limit N]
        [--output-dir DIR]

Every configuration decodes the same utterances (the checkpoint's test split by default) with
the same encoder; a markdown table goes to stdout and to DIR/decoders.md, and each run's
per-utterance outputs to DIR/<configuration>/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avseq.errors import AvseqError
from avseq.evaluation.speech import evaluate_speech
from avseq.inference.speech import DecodeOptions, Transcriber
from avseq.utils.io import write_text_atomic


def configurations(args: argparse.Namespace, has_decoder: bool) -> list[tuple[str, DecodeOptions]]:
    beam, lm, w = args.beam, args.lm, args.lm_weight
    out = [
        ("CTC greedy", DecodeOptions("greedy")),
        ("CTC beam", DecodeOptions("ctc-beam", beam=args.ctc_beam)),
    ]
    if lm:
        out.append(
            ("CTC beam + LM", DecodeOptions("ctc-beam", beam=args.ctc_beam, lm=lm, lm_weight=w))
        )
    if args.word_lm:
        out.append(
            (
                "CTC beam + lexicon + word LM",
                DecodeOptions(
                    "ctc-beam",
                    beam=args.ctc_beam,
                    lm=args.word_lm,
                    lm_weight=args.word_lm_weight,
                    word_score=args.word_score,
                ),
            )
        )
    if has_decoder:
        out.append(("attention beam", DecodeOptions("attention", beam=beam)))
        out.append(
            ("joint CTC/attention", DecodeOptions("joint", beam=beam, ctc_weight=args.ctc_weight))
        )
        if lm:
            out.append(
                (
                    "joint CTC/attention + LM",
                    DecodeOptions(
                        "joint", beam=beam, ctc_weight=args.lm_ctc_weight, lm=lm, lm_weight=w
                    ),
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--lm", help="a speech_lm checkpoint (rows with LM fusion)")
    parser.add_argument(
        "--word-lm", help="a word n-gram ARPA (avseq word-lm): a lexicon-constrained CTC row"
    )
    parser.add_argument("--word-lm-weight", type=float, default=None, help="default 1.0")
    parser.add_argument("--word-score", type=float, default=0.0, help="per word, with --word-lm")
    parser.add_argument("--manifest", help="default: the checkpoint's test split")
    parser.add_argument("--beam", type=int, default=8, help="attention/joint beam width")
    parser.add_argument(
        "--ctc-beam", type=int, default=None, help="CTC beam width (default 64; 16 with --lm)"
    )
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--ctc-weight", type=float, default=0.3, help="joint decoding, no LM")
    parser.add_argument(
        "--lm-ctc-weight", type=float, default=0.5, help="joint decoding with the LM"
    )
    parser.add_argument("--limit", type=int, help="decode only the first N utterances")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output-dir", default=None)
    args = parser.parse_args()
    base = Transcriber(args.checkpoint, args.device, args.batch_size)
    manifest = args.manifest or base.meta.get("test_manifest")
    if not manifest:
        raise SystemExit(f"error: {args.checkpoint}: records no test manifest; pass --manifest")
    out_dir = Path(args.output_dir or Path(args.checkpoint).resolve().parent.parent / "decoders")
    rows = []
    for name, options in configurations(args, base.model.decoder is not None):
        try:
            tr = Transcriber(args.checkpoint, args.device, args.batch_size, options=options)
        except AvseqError as err:
            print(f"skipped {name}: {err}")
            continue
        folder = out_dir / name.replace(" ", "_").replace("/", "-").replace("+", "plus")
        summary = evaluate_speech(tr, manifest, folder, limit=args.limit)
        rows.append((name, options.describe(), summary))
        print(
            f"{name:26s} WER {100 * summary['wer']:6.2f}%  CER {100 * summary['cer']:6.2f}%  "
            f"RTF {summary['real_time_factor']:.4f}",
            flush=True,
        )
    greedy_wer = rows[0][2]["wer"]
    lines = [
        f"Decoders on {Path(manifest).name} ({rows[0][2]['utterances']} utterances), "
        f"checkpoint {args.checkpoint}, device {rows[0][2]['device']}",
        "",
        "| decoding | WER | CER | WER vs CTC greedy | real-time factor | settings |",
        "|---|---|---|---|---|---|",
    ]
    for name, settings, s in rows:
        rel = (s["wer"] - greedy_wer) / greedy_wer if greedy_wer else 0.0
        lines.append(
            f"| {name} | {100 * s['wer']:.2f}% | {100 * s['cer']:.2f}% | {100 * rel:+.1f}% | "
            f"{s['real_time_factor']:.4f} | {settings} |"
        )
    table = "\n".join(lines) + "\n"
    write_text_atomic(out_dir / "decoders.md", table)
    summaries = {name: s for name, _, s in rows}
    write_text_atomic(out_dir / "decoders.json", json.dumps(summaries, indent=2) + "\n")
    print()
    print(table)


if __name__ == "__main__":
    main()
