"""The ``simgen`` command line: a thin layer over the library that prints user errors in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from simgen.errors import SimgenError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn YAML scenarios into labeled synthetic datasets (PyBullet).")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a field: path.to.field=value (YAML value). Repeatable.")]


def _version(value: bool) -> None:
    if value:
        from simgen import __version__

        out.print(f"simgen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Turn YAML scenarios into labeled synthetic datasets (PyBullet)."""


def _print_error_lines(error: SimgenError) -> None:
    """One red line per problem; located lines (``FILE:LINE: ...``) print as they are."""
    for line in str(error).splitlines():
        text = escape(line)
        err.print(f"[red]{text}[/red]" if _is_located(line) else f"[red]error:[/red] {text}")


def _fail(error: SimgenError) -> None:
    _print_error_lines(error)
    raise typer.Exit(error.exit_code)


def _is_located(line: str) -> bool:
    head = line.split(": ", 1)[0]
    return ":" in head or head.startswith("--")


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory.")] = Path(
        "out"),
    episodes: Annotated[int | None, typer.Option(help="Number of episodes (overrides the "
                                                      "scenario).")] = None,
    seed: Annotated[int | None, typer.Option(help="Root seed (overrides the scenario).")] = None,
    renderer: Annotated[str | None, typer.Option(help="auto, egl or tiny (overrides the "
                                                      "scenario).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes (default: one per core; 0: in this process). With "
             "--executor ray: Ray actors (default: one per CPU of the cluster).")] = None,
    executor: Annotated[str, typer.Option(
        help="local (worker processes on this machine) or ray (the simgen[ray] extra).")
                        ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="Address of a running Ray cluster (default: start a local Ray instance).")
                           ] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted run in --out (same scenario and options).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset in --out.")] = False,
    retries: Annotated[int, typer.Option(
        help="Further attempts at an episode whose worker crashed or raised.")] = 2,
    check: Annotated[bool, typer.Option(help="Check the finished dataset (as simgen check).")
                     ] = False,
    set_: SetOption = None,
) -> None:
    """Validate SCENARIO, then generate its dataset into --out.

    Exit status: 0 done, 1 error (the dataset stays resumable), 2 invalid scenario or
    check problems, 3 some episodes failed every attempt (listed in dataset.json).
    """
    from simgen.runner.run import RunProgress, run_scenario
    from simgen.spec import load_scenario

    overrides: list[str | tuple[str, str]] = list(set_ or [])
    for name, value in (("episodes", episodes), ("seed", seed), ("renderer", renderer)):
        if value is not None:
            overrides.append((f"--{name}", f"{name}={value}"))
    try:
        spec = load_scenario(scenario, overrides)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[frames]} frames"),
                      TextColumn("{task.fields[fps]:.1f} frames/s"), TimeRemainingColumn(),
                      TextColumn("{task.fields[info]}"),
                      console=err, transient=True) as bar:
            task = bar.add_task("episodes", total=spec.episodes, frames=0, fps=0.0, info="")
            started = bar.get_time()

            def progress(state: RunProgress) -> None:
                elapsed = max(bar.get_time() - started, 1e-9)
                info = [f"{state.workers} worker{'s' if state.workers > 1 else ''}"]
                if state.renderer:
                    info.append(f"renderer {state.renderer}")
                if state.retries:
                    info.append(f"{state.retries} retried")
                if state.failed:
                    info.append(f"[red]{state.failed} failed[/red]")
                bar.update(task, completed=state.done + state.failed, frames=state.frames,
                           fps=state.frames / elapsed, info=", ".join(info))

            summary = run_scenario(spec, scenario, out_dir, overwrite=overwrite, resume=resume,
                                   workers=workers, executor=executor,
                                   ray_address=ray_address, retries=retries,
                                   progress=progress)
    except SimgenError as error:
        _fail(error)
    except KeyboardInterrupt:
        err.print(f"[red]interrupted[/red]: {out_dir} is incomplete; continue it with "
                  "--resume")
        raise typer.Exit(130) from None
    resumed = summary.episodes - summary.made
    extra = f", {resumed} already there" if resumed else ""
    verdict = "[yellow]finished with failures[/yellow]" if summary.failed \
        else "[green]done[/green]"
    out.print(
        f"{verdict}: {summary.episodes} episodes{extra}, {summary.frames} frames, "
        f"{summary.labels} labeled objects in {summary.elapsed_s:.1f} s "
        f"({summary.frames_per_s:.1f} frames/s, renderer {summary.renderer}, "
        f"{summary.workers} {'worker' if summary.workers == 1 else 'workers'} "
        f"{summary.executor}) -> {out_dir}")
    if summary.retried:
        out.print(f"{summary.retried} failed attempt{'s' if summary.retried > 1 else ''} "
                  "(crashed or raised) tried again")
    for stat in summary.constraints:
        out.print(f"require[{stat['index']}] {escape(stat['constraint'])}: rejected "
                  f"{stat['rejected']} of {stat['draws']} draws ({stat['rejection_rate']:.0%})")
    if summary.failed:
        err.print(f"[red]{len(summary.failed)} episode"
                  f"{'s' if len(summary.failed) > 1 else ''} failed[/red] (listed in "
                  f"{out_dir}/dataset.json; retry them with --resume):")
        for f in summary.failed:
            err.print(f"  episode {f['index']} ({f['attempts']} attempt"
                      f"{'s' if f['attempts'] > 1 else ''}): {escape(f['error'])}")
        raise typer.Exit(3)
    if check:
        _check(out_dir)


@app.command(name="check")
def check_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
) -> None:
    """Check a dataset: files, counts, boxes against masks, classes, depth; exit 2 on problems."""
    if not dataset.is_dir():
        _fail(SimgenError(f"{dataset}: not a directory"))
    _check(dataset)


def _check(dataset: Path) -> None:
    """Run the dataset checker with a progress bar; print its problems and summary."""
    from simgen.writers.check import check_dataset

    with Progress(TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("check", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = check_dataset(dataset, progress)
    for line in report.problems:
        out.print(escape(line), soft_wrap=True)
    s = report.summary
    n = len(report.problems)
    verdict = "[green]ok[/green]" if report.ok else f"[red]{n} problem{'s' if n > 1 else ''}[/red]"
    out.print(f"{verdict}: {dataset}: {s.get('episodes', 0)} episodes, {s.get('frames', 0)} "
              f"frames, {s.get('labels', 0)} labels, {s.get('images_decoded', 0)} images "
              f"checked in {s.get('seconds', 0.0):.1f} s")
    if not report.ok:
        raise typer.Exit(2)


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario YAML files.")],
    set_: SetOption = None,
) -> None:
    """Check scenario files; print each problem as FILE:LINE: path: message."""
    from simgen.spec import load_scenario

    failed = False
    for path in scenarios:
        try:
            scenario = load_scenario(path, list(set_ or []))
            sweep = scenario.sweep
            note = "" if sweep is None else (
                f" ({sweep.design} sweep: {sweep.point_count()} points x "
                f"{sweep.episodes_per_point} episodes; {scenario.episodes} episodes)")
            out.print(f"[green]ok[/green]: {path}{note}")
        except SimgenError as error:
            failed = True
            _print_error_lines(error)
    if failed:
        raise typer.Exit(2)


@app.command()
def export(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory (a complete simgen run).")],
    format_: Annotated[str, typer.Option("--format", "-f", help="coco, yolo or kitti.")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Export directory (default: DATASET_FORMAT beside it).")] = None,
    split: Annotated[str, typer.Option(
        help="train,val,test ratios of episodes.")] = "0.8,0.1,0.1",
    overwrite: Annotated[bool, typer.Option(help="Replace a previous export in --out.")] = False,
) -> None:
    """Write DATASET as COCO, YOLO or KITTI, split into train/val/test by episode."""
    from simgen.writers.export import export_dataset

    target = out_dir if out_dir is not None else dataset.with_name(f"{dataset.name}_{format_}")
    try:
        ratios = _ratios(split)
        summary = export_dataset(dataset, format_, target, ratios, overwrite=overwrite)
    except SimgenError as error:
        _fail(error)
    sets = ", ".join(f"{name} {summary.images[name]} images / {summary.labels[name]} labels"
                     for name in ("train", "val", "test"))
    out.print(f"[green]exported[/green] {format_}: {sets} -> {target}")
    for warning in summary.warnings:
        err.print(f"[yellow]warning[/yellow]: {escape(warning)}")


def _ratios(text: str) -> tuple[float, float, float]:
    """``0.8,0.1,0.1`` as three floats, or a one-line error."""
    parts = text.split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise SimgenError(f"--split: give three ratios train,val,test, got {text!r}")
    return values  # type: ignore[return-value]


@app.command()
def preview(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory (a complete simgen run).")],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where the sheets go (default: DATASET/preview).")] = None,
    by: Annotated[str, typer.Option(help="Group frames by condition (weather and time of "
                                         "day), weather, time_of_day, edge_case, sweep_point "
                                         "or all.")] = "condition",
    per_sheet: Annotated[int, typer.Option(help="Frames shown per sheet.")] = 12,
    columns: Annotated[int, typer.Option(help="Thumbnails per row.")] = 4,
    width: Annotated[int, typer.Option(help="Thumbnail width in pixels.")] = 320,
) -> None:
    """Write contact sheets (PNG) of DATASET's frames with their labels drawn, one per group."""
    from simgen.reports.preview import SheetLayout, write_previews

    try:
        sheets = write_previews(dataset, out_dir, by, SheetLayout(per_sheet, columns, width))
    except SimgenError as error:
        _fail(error)
    for sheet in sheets:
        out.print(f"{sheet.name}: {len(sheet.image_ids)} of {sheet.frames_in_group} frames "
                  f"-> {sheet.path}")
    out.print(f"[green]wrote[/green] {len(sheets)} contact sheets")


@app.command()
def report(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory (a complete simgen run).")],
    out_path: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The HTML file to write (default: DATASET/report.html).")] = None,
) -> None:
    """Write a self-contained HTML report of DATASET: counts, distributions, parameter
    coverage, edge cases, sample images by condition, generation performance."""
    from simgen.reports.report import write_report

    try:
        path = write_report(dataset, out_path)
    except SimgenError as error:
        _fail(error)
    out.print(f"[green]wrote[/green] {path}")


@app.command("eval")
def eval_(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory (a complete simgen run).")],
    model: Annotated[str, typer.Option(help="The detector: module:callable or file.py:callable "
                                            "(RGB uint8 image -> [((x, y, w, h), class, score)])."
                                       )] = "simgen.evaluation.reference_detector:detect",
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where eval.json, detections, plots and eval.html go "
                            "(default: DATASET/eval).")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="An earlier eval.json to compare with, slice by slice.")] = None,
    max_drop: Annotated[float, typer.Option(
        help="Largest tolerated fall of the metric below the baseline (beyond its "
             "confidence interval).")] = 0.05,
    metric: Annotated[str, typer.Option(help="ap, ap50 or recall.")] = "ap",
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of episodes.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Run a detector on every frame of DATASET; COCO AP, AP50 and recall overall and by slice.

    Exit codes: 0 fine, 1 bad input, 4 a slice regressed against --baseline.
    """
    from simgen.evaluation.evaluate import evaluate_model

    target = out_dir if out_dir is not None else dataset / "eval"
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("frames", total=None)
            outcome = evaluate_model(
                dataset, model, target, baseline=baseline, max_drop=max_drop, metric=metric,
                junit=junit, seed=seed, resamples=resamples,
                on_image=lambda done, total: bar.update(task, completed=done, total=total))
    except SimgenError as error:
        _fail(error)
    _print_eval(outcome.result, metric)
    others = outcome.result["other_classes"]
    if others:
        err.print("[yellow]warning[/yellow]: left out detections of classes this dataset does "
                  "not have: " + ", ".join(f"{escape(k)} ({n})" for k, n in others.items()))
    out.print(f"[green]wrote[/green] {target}")
    if outcome.compared:
        if outcome.regressions:
            described = {e["name"]: e.get("description", "") for e in outcome.result["slices"]}
            for r in outcome.regressions:
                err.print(f"[red]regression[/red]: {escape(r.name)}: {escape(r.message())}"
                          + (escape(f" [{described[r.name]}]") if described.get(r.name) else ""))
            err.print(f"[red]{len(outcome.regressions)} slice(s) regressed[/red] against "
                      f"{baseline}")
            raise typer.Exit(4)
        out.print(f"[green]no regression[/green] against {baseline} (max drop {max_drop:g})")


def _print_eval(result: dict, metric: str) -> None:
    """The overall result and each slice as a table."""
    from rich.table import Table

    weighted = result.get("weighted", False)
    table = Table(title=f"{result['model']} on {result['dataset']['name']}")
    for column in ("slice", "images", "objects", "AP", "AP50", "recall",
                   f"{metric} interval", *(["weighted " + metric] if weighted else [])):
        table.add_column(column, justify="left" if column == "slice" else "right")

    def number(value) -> str:
        return "-" if value is None else f"{value:.3f}"
    for entry in [result["overall"], *result["slices"]]:
        interval = (entry.get("ci") or {}).get(metric)
        name = entry["name"] + (f" ({entry['description']})" if entry.get("description")
                                else "")
        row = [name, str(entry["images"]), str(entry["gt_objects"]),
               number(entry["ap"]), number(entry["ap50"]), number(entry["recall"]),
               "-" if not interval else f"{interval[0]:.3f}-{interval[1]:.3f}"]
        if weighted:
            row.append(number((entry.get("weighted") or {}).get(metric)))
        table.add_row(*row)
    # a file or pipe (80 columns by default) gets every column whole
    Console(highlight=False, width=max(out.width, 130)).print(table)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario format (for editor completion)."""
    from simgen.spec import scenario_json_schema

    sys.stdout.write(scenario_json_schema() + "\n")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
