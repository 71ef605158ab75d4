# Step 6: figures, each captioned in the Snakemake report.


# Draw the chosen model over the data, the selection criteria and their stability, the
# classification uncertainty, the Bayesian weights and the merged clusters.
rule render_figures:
    input:
        unpack(dataset_files),
        model="results/select/{dataset}/model.json",
        criteria="results/select/{dataset}/criteria.csv",
        selection="results/select/{dataset}/selection.json",
        stability="results/select/{dataset}/stability.csv",
        scores="results/anomalies/{dataset}/scores.csv",
        anomaly_summary="results/anomalies/{dataset}/summary.json",
        weights="results/bayes/{dataset}/weights.csv",
        bayes_summary="results/bayes/{dataset}/summary.json",
        merges="results/clusters/{dataset}/merges.csv",
        cluster_labels="results/clusters/{dataset}/labels.csv",
        cluster_summary="results/clusters/{dataset}/summary.json",
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
            labels={"dataset": "{dataset}", "figure": "selection criteria"},
        ),
        stability=report(
            "results/figures/{dataset}/selection_frequency.png",
            caption="../report/selection_frequency.rst",
            category="Model selection",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "selection frequency"},
        ),
        uncertainty=report(
            "results/figures/{dataset}/uncertainty.png",
            caption="../report/uncertainty.rst",
            category="Models",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "classification uncertainty"},
        ),
        anomaly_scores=report(
            "results/figures/{dataset}/anomaly_scores.png",
            caption="../report/anomaly_scores.rst",
            category="Anomalies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "log-density histogram"},
        ),
        anomaly_curves=report(
            "results/figures/{dataset}/anomaly_curves.png",
            caption="../report/anomaly_curves.rst",
            category="Anomalies",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "ROC and precision-recall"},
        ),
        weights=report(
            "results/figures/{dataset}/bayes_weights.png",
            caption="../report/bayes_weights.rst",
            category="Bayesian pruning",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "Bayesian weights"},
        ),
        clusters=report(
            "results/figures/{dataset}/clusters.png",
            caption="../report/clusters.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "merged clusters"},
        ),
        merge_rule=report(
            "results/figures/{dataset}/merge_rule.png",
            caption="../report/merge_rule.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "where merging stopped"},
        ),
        merge_tree=report(
            "results/figures/{dataset}/merge_tree.png",
            caption="../report/merge_tree.rst",
            category="Clusters",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "merge tree"},
        ),
        provenance="results/figures/{dataset}/provenance.json",
    log:
        "results/logs/render_figures/{dataset}.log",
    priority: PRIORITY["figures"]
    conda:
        "../envs/gmm.yaml"
    threads: 1
    resources:
        mem_mb=dataset_mem_mb,
        runtime=30,
    params:
        code=step_code("render_figures"),
        figures=setting("figures"),
        shown=caption_settings,
    script:
        "../../scripts/render_figures.py"
