"""Compare two results folders: config keys, metrics (with deltas) and artifacts that differ.

    python scripts/compare_runs.py RESULTS_A RESULTS_B [--json]

(``make compare A=... B=...``). Each folder must hold a completed run's manifest.json. The
exit status is 0 when the comparison ran (whatever it found), 2 when a folder cannot be read.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gmm_pipeline.errors import OneLineParser, PipelineInputError  # noqa: E402
from gmm_pipeline.records.compare import compare_runs, format_comparison, load_run  # noqa: E402


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the first results folder (for example results)")
    parser.add_argument("b", help="the second results folder")
    parser.add_argument("--json", action="store_true", help="print the whole comparison as JSON")
    args = parser.parse_args(argv)
    try:
        comparison = compare_runs(load_run(args.a), load_run(args.b))
    except PipelineInputError as err:
        print(f"compare: {err}", file=sys.stderr)
        return 2
    print(json.dumps(comparison, indent=2) if args.json else format_comparison(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
