"""Write the inputs fpc's mergenormals needs, from the stored models and the default config's
datasets, as CSV files for fpc_reference.R (run from the repository root):

    .venv/bin/python tests/data/merging/export_for_fpc.py /tmp/fpc
    Rscript tests/data/merging/fpc_reference.R /tmp/fpc > tests/data/merging/fpc_mergenormals.csv
"""

import sys
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "scripts"))
from gmm_pipeline.files.model_io import load_model  # noqa: E402
from gmm_pipeline.maths.merge_hennig import full_covariances  # noqa: E402
from gmm_pipeline.stages.prepare_data import prepare_dataset  # noqa: E402

DATASETS = ("moons", "blobs", "circles", "anisotropic")


def main(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((HERE.parents[2] / "config.yaml").read_text())
    for name in DATASETS:
        frame, description = prepare_dataset(config["datasets"][name], name=name)
        X = frame[description["features"]].to_numpy(dtype=np.float64)
        model = load_model(HERE / f"{name}.model.json")
        parts = {
            "X": X,
            "z": model.predict_proba(X),
            "w": model.weights_,
            "mu": model.means_,
            "S": full_covariances(model).reshape(model.n_components, -1),
        }
        for part, values in parts.items():
            np.savetxt(folder / f"{name}_{part}.csv", values, delimiter=",", fmt="%.17g")


if __name__ == "__main__":
    main(sys.argv[1])
