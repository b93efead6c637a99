"""``genzoo`` command line: parses arguments and calls the library; no logic of its own.

Exit codes: 0 ok, 1 training gave up (divergence), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genzoo.errors import GenzooError, UserError

CORRUPTIONS = ("even-rows", "even-rows-additive", "top-half", "bottom-half", "left-half",
               "right-half")

EPILOG = """examples:
  genzoo list presets
  genzoo train clf-digits train.epochs=3
  genzoo info clf-cifar10-spec
  genzoo sample runs/ebm-mnist --n 64 sampler.sample_steps=200
  genzoo eval runs/clf-digits
  genzoo eval runs/vae-bmnist --split test --is-k 1,10,50,200,1000
  genzoo report runs/clf-digits
  genzoo inpaint runs/ebm-mlp-mnist --corruption even-rows --steps 100
  genzoo analyze runs/jem-mnist energies generate top --steps 100
  genzoo analyze runs/wgan-hoda perturb interpolate --eps 3
  genzoo compare toy2d --models ebm,dsm --datasets spiral,pinwheel
  genzoo compare ebm-init --preset ebm-mnist train.steps=1500
  genzoo compare jem --preset jem-fashion
  genzoo compare gan --preset gan-hoda,wgan-hoda train.epochs=2
  genzoo cluster runs/vqvae-mnist --ks 6-14
  genzoo sweep clf-mnist model.noise_sigma=0,0.03 train.epochs=2 --seeds 0,1"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        raise UserError(f"{message} (see genzoo {self.prog.split()[-1]} --help)"
                        if " " in self.prog else f"{message} (see genzoo --help)")


def _ints_from(least: int, example: str):
    """A parser of comma-separated integers >= ``least`` (e.g. ``"1,10,200"`` ->
    ``(1, 10, 200)``); anything else is a usage error (exit code 2)."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            values = ()
        if not values or min(values) < least:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers >= {least} "
                                             f"(e.g. {example}), got {text!r}")
        return values

    return parse


_positive_ints = _ints_from(1, "1,10,200")
_seeds = _ints_from(0, "0,1")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genzoo", description="Train, sample, evaluate and compare deep "
                "generative models.", epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    anywhere = argparse.ArgumentParser(add_help=False)  # --quiet also after the verb
    anywhere.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                          help="no progress bars")
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def verb(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[anywhere], **kwargs)

    s = verb("list", help="list models, nets, datasets or presets")
    s.add_argument("what", nargs="?", default="all",
                   choices=["all", "models", "nets", "datasets", "presets"])

    s = verb("train", help="train a preset: genzoo train PRESET [key=value ...]")
    s.add_argument("preset", help="preset name (genzoo list presets) or a YAML file")
    s.add_argument("overrides", nargs="*", help="dotted key=value, e.g. train.epochs=5")
    s.add_argument("--name", help="run name (default: the preset's)")
    s.add_argument("--runs-dir", default="runs", help="folder of run directories")
    s.add_argument("--resume", action="store_true",
                   help="continue runs/NAME from its last checkpoint if it exists")

    s = verb("info", help="a preset's resolved config and its parameter counts: genzoo info "
             "PRESET [key=value ...]")
    s.add_argument("preset")
    s.add_argument("overrides", nargs="*")

    s = verb("sample", help="draw samples from a trained run")
    s.add_argument("run", type=Path)
    s.add_argument("overrides", nargs="*", help="sample options, e.g. "
                   "sampler.sample_steps=200 (an EBM), sampler.temperature=0.7 (a GAN, a "
                   "flow); a wrong key lists the valid ones")
    s.add_argument("--n", type=int, default=64, help="number of samples")
    s.add_argument("--y", type=int, default=None, help="class label (conditional methods)")
    s.add_argument("--checkpoint", default="last", help="last, best or a path")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, help="PNG path (default RUN/samples/sample-*.png)")

    s = verb("eval", help="evaluate a trained run; writes RUN/eval.json")
    s.add_argument("run", type=Path)
    s.add_argument("--split", help="dataset split (default: the run's validation split)")
    s.add_argument("--checkpoint", default="last", help="last, best or a path")
    s.add_argument("--samples", type=int, default=1000,
                   help="samples scored by the dataset's judge (generative methods)")
    s.add_argument("--no-judge", action="store_true", help="skip the judge metrics")
    s.add_argument("--judge", type=Path, help="a classifier run (or checkpoint) of the same "
                   "data to judge the samples with, instead of the dataset's default judge")
    s.add_argument("--inception", action="store_true",
                   help="also Inception FID/IS (needs torch-fidelity and its weights)")
    s.add_argument("--no-figures", action="store_true", help="skip the method's figures")
    s.add_argument("--is-k", type=_positive_ints, default=(), metavar="K[,K...]",
                   help="VAEs: importance-sampled log-likelihood of the split with each number "
                   "K of samples, e.g. 1,10,200 (SPLIT/log_px_kK in eval.json)")

    s = verb("inpaint", help="corrupt test images and restore them under a run's "
             "model (EBMs, likelihood models); writes RUN/inpaint/")
    s.add_argument("run", type=Path)
    s.add_argument("--corruption", default="even-rows", choices=list(CORRUPTIONS),
                   help="even-rows: Gaussian noise on the even rows; even-rows-additive: the "
                   "same, read as noisy observations (the restoration samples the posterior); "
                   "*-half: that half hidden")
    s.add_argument("--n", type=int, default=1000, help="test images")
    s.add_argument("--split", default="test")
    s.add_argument("--noise", type=float, help="std of the corrupting noise, as a fraction "
                   "of the pixel range (default 0.3 for even-rows-additive, else 0.5)")
    s.add_argument("--steps", type=int, default=100, help="Langevin steps")
    s.add_argument("--step-size", type=float, help="default: the run's sampler step size")
    s.add_argument("--noise-scale", type=float, help="default: the run's sampler noise")
    s.add_argument("--init", default="interpolate", choices=["interpolate", "corrupted", "noise"],
                   help="where the unknown pixels start")
    s.add_argument("--observation-weight", type=float, default=1.0,
                   help="even-rows-additive: weight of the noisy rows' likelihood in the chain's "
                   "score (1: the posterior; below 1 trusts the model more)")
    s.add_argument("--checkpoint", default="last", help="last, best or a path")
    s.add_argument("--seed", type=int, default=0)

    s = verb("analyze", help="analyses of a run: for a classifier or JEM, energies, "
             "energy-grid, generate, top-generated, reverse, top, guided, calibration, ood, "
             "epoch-losses; for JEM and EBMs, buffer-draws; for a GAN, perturb, interpolate "
             "(or all)")
    s.add_argument("run", type=Path)
    s.add_argument("what", nargs="+", help="analyses to run (genzoo analyze --help)")
    s.add_argument("--n", type=int, default=100, help="images per analysis (GAN: base latents)")
    s.add_argument("--steps", type=int, default=100, help="SGLD steps of the chains")
    s.add_argument("--eps", type=float, default=3.0, help="GAN perturb: the largest shift of "
                   "one latent coordinate")
    s.add_argument("--no-judge", action="store_true", help="GAN: no judge numbers (a missing "
                   "judge is otherwise trained)")
    s.add_argument("--p-new", type=float, default=0.5, help="buffer-draws: the probability "
                   "of a fresh start per item")
    s.add_argument("--split", default="test")
    s.add_argument("--ood", help="ood: the out-of-distribution dataset (default: MNIST <-> "
                   "Fashion-MNIST)")
    s.add_argument("--checkpoint", default="last", help="last, best or a path")
    s.add_argument("--seed", type=int, default=0)

    s = verb("compare", help="toy2d: every family on 2-D toy data; ebm-init: EBM "
             "chains from noise vs a replay buffer, with and without a noise "
             "schedule; jem: classifier vs JEM vs JEM++ on the same budget; gan: "
             "GAN objectives by the judge and stability")
    s.add_argument("lab", choices=["toy2d", "ebm-init", "jem", "gan"],
                   help="the comparison to run")
    s.add_argument("overrides", nargs="*", help="key=value applied to every trained preset")
    s.add_argument("--preset", help="ebm-init: the EBM preset to vary (default ebm-mnist); "
                   "jem: the JEM preset (default jem-mnist); gan: comma-separated GAN presets "
                   "(default gan-hoda,wgan-hoda)")
    s.add_argument("--models", help="comma-separated families (default: all)")
    s.add_argument("--datasets", default="spiral,pinwheel,checkerboard,gmm-ring",
                   help="comma-separated 2-D toys")
    s.add_argument("--data", type=Path, help="your own (N, 2) points (.npy/.npz/.csv) instead")
    s.add_argument("--out", type=Path, help="output folder (runs, results.json, report.html; "
                   "default runs/compare-LAB)")
    s.add_argument("--samples", type=int, help="samples drawn per model (toy2d: 2000, "
                   "ebm-init and jem: 1000 for the judge)")
    s.add_argument("--workers", type=int, default=2,
                   help="trainings run at once in separate processes (1: sequential)")
    s.add_argument("--no-judge", action="store_true", help="ebm-init, jem, gan: no judge "
                   "numbers (the dataset's default judge is otherwise trained once if missing; "
                   "CIFAR-10's takes 200 epochs)")
    s.add_argument("--judge", type=Path, help="ebm-init, jem, gan: judge samples with this "
                   "classifier run (or checkpoint) instead of the dataset's default judge")
    s.add_argument("--from", dest="from_run", type=Path, help="jem: a classifier run (or "
                   "checkpoint) with the preset's network; adds JEM and JEM++ fine-tuned from "
                   "it (jem-ft, jem++-ft) beside the runs from scratch")
    s.add_argument("--resume", action="store_true",
                   help="ebm-init, jem, gan: continue the runs already in --out (finished ones "
                   "are kept, interrupted ones continue from their last checkpoint; a run "
                   "saved with other settings is refused)")

    s = verb("sweep", help="train a preset over a grid of settings and seeds, evaluate every "
             "run, one report: genzoo sweep PRESET key=a,b [key2=c,d] [--seeds 0,1]")
    s.add_argument("preset")
    s.add_argument("items", nargs="+", help="key=a,b,... (swept) or key=value (every run)")
    s.add_argument("--seeds", type=_seeds, default=(0,),
                   help="comma-separated train.seed values (default 0)")
    s.add_argument("--out", type=Path, help="output folder (default runs/sweep-PRESET); an "
                   "existing one is resumed")
    s.add_argument("--samples", type=int, default=1000, help="samples scored by the judge")
    s.add_argument("--no-judge", action="store_true", help="no judge numbers")
    s.add_argument("--judge", type=Path, help="a classifier run judging the samples instead "
                   "of the dataset's default judge")

    s = verb("cluster", help="pseudo-labels from a VQ-VAE's codes or SimSiam's "
             "features: KMeans over K (silhouette), accuracy vs raw pixels, t-SNE, "
             "classifier on true vs pseudo labels")
    s.add_argument("run", type=Path)
    s.add_argument("--ks", default="5-15", help="the K of the sweep: a range 5-15 or a list "
                   "6,8,10")
    s.add_argument("--k", type=int, help="K of the pseudo-labels (default: best silhouette)")
    s.add_argument("--limit", type=int, help="use only the first N training items")
    s.add_argument("--fit-limit", type=int, default=20000, help="items KMeans is fitted on "
                   "(all are then assigned)")
    s.add_argument("--tsne", type=int, default=2000, help="items in the t-SNE map (0: none)")
    s.add_argument("--classifier", default="auto", help="classifier preset trained on true "
                   "and on pseudo labels (default: the dataset's judge preset)")
    s.add_argument("--no-classifier", action="store_true", help="skip the classifiers")
    s.add_argument("--classifier-epochs", type=int, default=3)
    s.add_argument("--embed", default="none", help="none: KMeans on the features; spectral: "
                   "spectral clustering (KMeans on the kNN-graph Laplacian eigenvectors)")
    s.add_argument("--neighbors", type=int, default=60, help="k of the kNN graph of --embed "
                   "spectral")
    s.add_argument("--seed", type=int, default=0)

    s = verb("report", help="write an HTML report of one or more runs")
    s.add_argument("runs", type=Path, nargs="+")
    s.add_argument("--out", type=Path, help="HTML path (default RUN/report.html, or "
                   "./report.html for several runs)")
    return p


def _list(what: str) -> None:
    from genzoo.config import preset_names
    from genzoo.registry import datasets, methods, nets

    for section, registry in (("models", methods), ("nets", nets)):
        if what in ("all", section):
            print(f"{section}:")
            for name, cls in registry.items():
                print(f"  {name:18s} {(cls.__doc__ or '').strip().splitlines()[0]}")
    if what in ("all", "datasets"):
        print("datasets:")
        for name, spec in datasets.items():
            print(f"  {name:18s} splits: {', '.join(spec.splits):24s} {spec.description}")
    if what in ("all", "presets"):
        print("presets:")
        for name in preset_names():
            print(f"  {name}")


def run(argv: list[str]) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options (argparse stops collecting them there)
    stray = [e for e in extra if e.startswith("-") or "=" not in e]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    if args.verb == "list":
        _list(args.what)
    elif args.verb == "train":
        from genzoo.runs import train

        run_dir = train(args.preset, args.overrides, runs_dir=args.runs_dir, name=args.name,
                        resume=args.resume, quiet=args.quiet)
        print(run_dir)
    elif args.verb == "sample":
        from genzoo.analyze.evaluate import sample_run

        print(sample_run(args.run, args.n, y=args.y, overrides=args.overrides,
                         checkpoint=args.checkpoint, seed=args.seed, out=args.out))
    elif args.verb == "eval":
        from genzoo.analyze.evaluate import evaluate_run

        numbers = evaluate_run(args.run, split=args.split, checkpoint=args.checkpoint,
                               figures=not args.no_figures, judge=not args.no_judge,
                               inception=args.inception, num_samples=args.samples,
                               is_k=args.is_k, quiet=args.quiet, judge_run=args.judge)
        print(json.dumps(numbers, indent=2))
    elif args.verb == "inpaint":
        from genzoo.analyze.inpaint import inpaint_run

        numbers = inpaint_run(args.run, n=args.n, split=args.split, corruption=args.corruption,
                              noise_std=args.noise, steps=args.steps, step_size=args.step_size,
                              noise_scale=args.noise_scale, init=args.init,
                              observation_weight=args.observation_weight,
                              checkpoint=args.checkpoint, seed=args.seed)
        print(json.dumps(numbers, indent=2))
    elif args.verb == "sweep":
        from genzoo.labs.sweep import sweep

        print(sweep(args.preset, args.items, seeds=args.seeds, out=args.out,
                    num_samples=args.samples, judge=not args.no_judge, judge_run=args.judge,
                    quiet=args.quiet))
    elif args.verb == "info":
        import yaml

        from genzoo.runs import describe, parameter_counts

        cfg, method = describe(args.preset, args.overrides)
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        counts = parameter_counts(method)
        parts = ", ".join(f"{k} {v:,}" for k, v in counts.items()
                          if k not in ("total", "trainable"))
        print(f"# parameters: {counts['total']:,} ({counts['trainable']:,} trainable; {parts})")
    elif args.verb == "analyze":
        from genzoo.analyze.base import analyze

        numbers = analyze(args.run, args.what, n=args.n, steps=args.steps, eps=args.eps,
                          split=args.split, ood=args.ood, checkpoint=args.checkpoint,
                          seed=args.seed, judge=not args.no_judge, p_new=args.p_new)
        print(json.dumps(numbers, indent=2))
    elif args.verb == "compare":
        out = args.out or Path(f"runs/compare-{args.lab}")
        if args.samples is not None and args.samples < 10:
            raise UserError(f"--samples: expected at least 10, got {args.samples}")
        if args.from_run is not None and args.lab != "jem":
            raise UserError("--from: only the jem lab fine-tunes from a classifier run")
        if args.resume and args.lab == "toy2d":
            raise UserError("--resume: only the ebm-init, jem and gan labs resume their runs")
        if args.lab == "ebm-init":
            from genzoo.labs.ebm_init import compare_ebm_init

            print(compare_ebm_init(out, preset=args.preset or "ebm-mnist",
                                   overrides=args.overrides, num_samples=args.samples or 1000,
                                   quiet=args.quiet, resume=args.resume,
                                   judge=not args.no_judge, judge_run=args.judge))
            return 0
        if args.lab == "gan":
            from genzoo.labs.gan import DEFAULT_PRESETS, compare_gans

            presets = args.preset.split(",") if args.preset else DEFAULT_PRESETS
            print(compare_gans(out, presets=presets, overrides=args.overrides,
                               num_samples=args.samples or 1000, quiet=args.quiet,
                               resume=args.resume, judge=not args.no_judge,
                               judge_run=args.judge))
            return 0
        if args.lab == "jem":
            from genzoo.labs.jem import compare_jem

            print(compare_jem(out, preset=args.preset or "jem-mnist", overrides=args.overrides,
                              num_samples=args.samples or 1000, quiet=args.quiet,
                              resume=args.resume, from_run=args.from_run,
                              judge=not args.no_judge, judge_run=args.judge))
            return 0
        from genzoo.labs.toy2d import Protocol, compare_toy2d

        print(compare_toy2d(out, models=args.models.split(",") if args.models else None,
                            datasets=args.datasets.split(","), data_file=args.data,
                            protocol=Protocol(n_samples=args.samples or 2000),
                            overrides=args.overrides, workers=args.workers,
                            quiet=args.quiet))
    elif args.verb == "cluster":
        from genzoo.analyze.cluster import cluster_run, parse_ks

        if args.classifier_epochs < 1:
            raise UserError(f"--classifier-epochs: expected at least 1, got "
                            f"{args.classifier_epochs}")
        numbers = cluster_run(args.run, ks=parse_ks(args.ks), k=args.k, limit=args.limit,
                              fit_limit=args.fit_limit, tsne=args.tsne,
                              classifier=None if args.no_classifier else args.classifier,
                              classifier_epochs=args.classifier_epochs, embed=args.embed,
                              neighbors=args.neighbors, seed=args.seed, quiet=args.quiet)
        print(json.dumps(numbers, indent=2))
    elif args.verb == "report":
        from genzoo.viz.report import write_report

        if len(args.runs) > 1 and args.out is None:
            args.out = Path("report.html")
        for r in args.runs:
            if not (r / "config.yaml").is_file():
                raise UserError(f"{r} is not a genzoo run directory (no config.yaml)")
        print(write_report(args.runs, args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``genzoo`` console script; returns the exit code."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except GenzooError as e:
        print(f"genzoo: error: {e.for_cli() if isinstance(e, UserError) else e}",
              file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
