# Step 3: BIC/AIC model selection.


# Tabulate BIC and AIC over (covariance type, k) and pick the model used downstream.
rule select_model:
    input:
        starts=expand(
            "results/fit/{{dataset}}/{covariance_type}/starts.csv",
            covariance_type=COVARIANCE_TYPES,
        ),
        models=expand(
            "results/fit/{{dataset}}/{covariance_type}/models.json",
            covariance_type=COVARIANCE_TYPES,
        ),
    output:
        criteria="results/select/{dataset}/criteria.csv",
        selection="results/select/{dataset}/selection.json",
        model="results/select/{dataset}/model.json",
        provenance="results/select/{dataset}/provenance.json",
    params:
        criterion=lookup(dpath="selection/criterion", within=config),
        pinned=lookup(dpath="datasets/{dataset}/model", within=config, default=None),
    conda:
        "../envs/gmm.yaml"
    log:
        "results/logs/select_model/{dataset}.log",
    script:
        "../../scripts/select_model.py"
