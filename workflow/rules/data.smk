# Step 1: datasets.


# Draw each configured dataset (features and true labels) from its seeded generator.
rule generate_data:
    output:
        data="results/data/{dataset}/data.csv",
        meta="results/data/{dataset}/dataset.json",
        provenance="results/data/{dataset}/provenance.json",
    params:
        spec=lookup(dpath="datasets/{dataset}", within=config),
    conda:
        "../envs/gmm.yaml"
    log:
        "results/logs/generate_data/{dataset}.log",
    script:
        "../../scripts/generate_data.py"
