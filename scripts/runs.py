"""The run history of a results folder: list, show, compare, restore and remove runs.

    python scripts/runs.py list                      every recorded run, oldest first
    python scripts/runs.py show RUN [--manifest]     a run's record (config, code, jobs, artifacts)
    python scripts/runs.py compare RUN [RUN|FOLDER]  what differs (default: against results/)
    python scripts/runs.py restore RUN FOLDER        a run's artifacts, byte-identical, into FOLDER
    python scripts/runs.py remove --keep N [--keep-run RUN ...]   drop old runs, reclaim bytes

RUN is a run id as `list` prints it, or `latest`. Every completed run that changed the
results records itself (see gmm_pipeline/records/history.py). Exit status 2 names what is wrong.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gmm_pipeline.errors import OneLineParser, PipelineInputError  # noqa: E402
from gmm_pipeline.records.compare import compare_runs, format_comparison, load_run  # noqa: E402
from gmm_pipeline.records.history import (  # noqa: E402
    RunStore,
    format_runs,
    list_runs,
    load_recorded_run,
    remove_runs,
    restore_run,
    show_run,
)


def resolve(results, run):
    """A run id, with ``latest`` standing for the newest."""
    if run != "latest":
        return run
    ids = RunStore(results).run_ids()
    if not ids:
        raise PipelineInputError(f"no runs recorded in {Path(results) / 'runs'}")
    return ids[-1]


def load(results, name):
    """A recorded run, or a results folder when ``name`` is one."""
    if Path(name).is_dir() and (Path(name) / "manifest.json").is_file():
        return load_run(name)
    return load_recorded_run(results, resolve(results, name))


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the results folder (default results)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every recorded run")
    show = commands.add_parser("show", help="a run's record as JSON")
    show.add_argument("run")
    show.add_argument("--manifest", action="store_true", help="print the run's manifest instead")
    compare = commands.add_parser("compare", help="two runs, or a run and a results folder")
    compare.add_argument("a")
    compare.add_argument("b", nargs="?", help="a run or a results folder (default: the working results)")
    compare.add_argument("--json", action="store_true")
    restore = commands.add_parser("restore", help="a run's artifacts into a new folder")
    restore.add_argument("run")
    restore.add_argument("folder")
    remove = commands.add_parser("remove", help="remove all runs but the kept ones")
    remove.add_argument("--keep", type=int, default=None, metavar="N", help="keep the latest N runs")
    remove.add_argument("--keep-run", action="append", default=[], metavar="RUN", help="keep this run too")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(format_runs(list_runs(args.results)))
        elif args.command == "show":
            print(show_run(args.results, resolve(args.results, args.run), manifest=args.manifest))
        elif args.command == "compare":
            comparison = compare_runs(load(args.results, args.a), load(args.results, args.b or args.results))
            print(json.dumps(comparison, indent=2) if args.json else format_comparison(comparison))
        elif args.command == "restore":
            run = resolve(args.results, args.run)
            count = restore_run(args.results, run, args.folder)
            print(
                f"restored {count} files of run {run} into {args.folder}, each checked against its manifest"
            )
        elif args.command == "remove":
            if args.keep is None and not args.keep_run:
                parser.error("say what to keep: --keep N and/or --keep-run RUN")
            kept = [resolve(args.results, run) for run in args.keep_run]
            removed, reclaimed = remove_runs(args.results, keep_latest=args.keep, keep_ids=kept)
            print(f"removed {len(removed)} run(s), reclaimed {reclaimed:,} bytes")
    except PipelineInputError as err:
        print(f"runs: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
