# Step 5: anomaly extraction, scored against ground truth where it exists.


# Score every point under the chosen model; flag those below the log-density threshold;
# fit the mixture with a uniform noise component; compare with IsolationForest and
# LocalOutlierFactor on the same points (or, with a holdout, on unseen test rows).
rule extract_anomalies:
    input:
        unpack(dataset_files),
        model="results/select/{dataset}/model.json",
    output:
        scores="results/anomalies/{dataset}/scores.csv",
        anomalies="results/anomalies/{dataset}/anomalies.csv",
        detectors=report(
            "results/anomalies/{dataset}/detectors.csv",
            caption="../report/detectors.rst",
            category="Anomalies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "detector comparison (table)"},
        ),
        detectors_by_kind=report(
            "results/anomalies/{dataset}/detectors_by_kind.csv",
            caption="../report/detectors_by_kind.rst",
            category="Anomalies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "detectors by anomaly kind (table)"},
        ),
        noise_model="results/anomalies/{dataset}/noise_model.json",
        noise_fits="results/anomalies/{dataset}/noise_fits.csv",
        summary="results/anomalies/{dataset}/summary.json",
        provenance="results/anomalies/{dataset}/provenance.json",
    log:
        "results/logs/extract_anomalies/{dataset}.log",
    priority: PRIORITY["anomalies"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("extract_anomalies"),
        anomalies=setting("anomalies"),
        fit=fit_settings,
    script:
        "../../scripts/extract_anomalies.py"
