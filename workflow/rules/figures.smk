# Step 6: figures, each captioned in the Snakemake report.


# Draw the chosen model over the data, the BIC/AIC curves and the Bayesian weights.
rule render_figures:
    input:
        unpack(dataset_files),
        model="results/select/{dataset}/model.json",
        criteria="results/select/{dataset}/criteria.csv",
        selection="results/select/{dataset}/selection.json",
        scores="results/anomalies/{dataset}/scores.csv",
        weights="results/bayes/{dataset}/weights.csv",
        bayes_summary="results/bayes/{dataset}/summary.json",
    output:
        model=report(
            "results/figures/{dataset}/model.png",
            caption="../report/model.rst",
            category="Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "model and anomalies"},
        ),
        criteria=report(
            "results/figures/{dataset}/criteria.png",
            caption="../report/criteria.rst",
            category="Model selection",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "BIC and AIC"},
        ),
        weights=report(
            "results/figures/{dataset}/bayes_weights.png",
            caption="../report/bayes_weights.rst",
            category="Bayesian pruning",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "Bayesian weights"},
        ),
        provenance="results/figures/{dataset}/provenance.json",
    params:
        figures=lookup(dpath="figures", within=config),
    conda:
        "../envs/gmm.yaml"
    log:
        "results/logs/render_figures/{dataset}.log",
    script:
        "../../scripts/render_figures.py"
