"""`avseq evaluate` and `avseq classify` for keyword checkpoints (`avseq.cli.predict`
dispatches here by the checkpoint's kind)."""

from __future__ import annotations

import argparse
from pathlib import Path

from avseq.cli.checks import skipped_status
from avseq.errors import AvseqError


def cmd_evaluate_keyword(args: argparse.Namespace) -> int:
    from avseq.evaluation.keyword import evaluate_keywords
    from avseq.evaluation.paths import default_eval_dir
    from avseq.evaluation.speech import split_manifest
    from avseq.inference.keyword import KeywordSpotter
    from avseq.utils.io import check_writable_dir

    if args.annotations or args.captions:
        raise AvseqError(
            f"{args.checkpoint}: a keyword checkpoint takes --manifest, not --annotations "
            "or --captions"
        )
    if args.split and args.manifest:
        raise AvseqError("--split names a split of the checkpoint's corpus; give it or --manifest")
    spotter = KeywordSpotter(args.checkpoint, args.device, args.batch_size)
    manifest = args.manifest or spotter.meta.get("test_manifest")
    if not manifest:
        raise AvseqError(f"{args.checkpoint}: records no test manifest; pass --manifest FILE")
    if args.split:  # e.g. validation: validation.jsonl beside the recorded testing.jsonl
        manifest = split_manifest(Path(manifest), args.split)
    out_dir = (
        Path(args.output_dir)
        if args.output_dir
        else default_eval_dir(Path(args.checkpoint), Path(manifest))
    )
    check_writable_dir(out_dir, "--output-dir")
    summary = evaluate_keywords(spotter, manifest, out_dir)
    print((out_dir / "summary.md").read_text())
    print(
        f"accuracy {100 * summary['accuracy']:.2f}%  top-5 {100 * summary['top5']:.2f}%  "
        f"(per-utterance results: {out_dir / 'predictions.jsonl'}; "
        f"confusion matrix: {out_dir / 'confusion_matrix.png'})"
    )
    return skipped_status(summary, "utterance")


def cmd_classify_keyword(args: argparse.Namespace) -> int:
    from avseq.cli.inputs import expand_inputs
    from avseq.cli.predict import emit_jsonl
    from avseq.inference.keyword import KeywordSpotter

    if args.views != 1:
        raise AvseqError("--views applies to video checkpoints; a keyword checkpoint takes none")
    paths = expand_inputs(args.inputs)
    spotter = KeywordSpotter(args.checkpoint, args.device, args.batch_size)
    results = spotter.classify_files(paths, args.top_k)
    return emit_jsonl(((result, error) for _, result, error in results), args.output)
