"""Check a results folder against its provenance records and manifest (``make verify``).

Run it from the folder the pipeline ran in. Prints one line per file that is missing,
edited, stale, made by other code than this checkout's or listed nowhere, then a count;
exits 1 if there is any such file, 0 if the folder is exactly what its records describe, 2
if the folder is not there.
"""

import sys
from pathlib import Path

from gmm_pipeline.errors import OneLineParser
from gmm_pipeline.records.verify import verify_results


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the results folder (default: results)")
    args = parser.parse_args(argv)
    if not Path(args.results).is_dir():
        print(
            f"verify: {args.results} is not a folder; expected the results folder of a run", file=sys.stderr
        )
        return 2
    findings, n_checked = verify_results(args.results)
    for finding in findings:
        print(finding)
    print(
        f"{n_checked} artifacts checked under {args.results}/: "
        + (f"{len(findings)} problem(s)" if findings else "all match their records")
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
