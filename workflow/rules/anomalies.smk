# Step 5: anomaly extraction.


# Score every point under the chosen model; flag those below the density percentile.
rule extract_anomalies:
    input:
        unpack(dataset_files),
        model="results/select/{dataset}/model.json",
    output:
        scores="results/anomalies/{dataset}/scores.csv",
        anomalies="results/anomalies/{dataset}/anomalies.csv",
        summary="results/anomalies/{dataset}/summary.json",
        provenance="results/anomalies/{dataset}/provenance.json",
    params:
        percentile=lookup(dpath="anomalies/percentile", within=config),
    conda:
        "../envs/gmm.yaml"
    log:
        "results/logs/extract_anomalies/{dataset}.log",
    script:
        "../../scripts/extract_anomalies.py"
