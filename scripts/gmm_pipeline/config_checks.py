"""Checks across config keys that a JSON schema cannot express."""

from .errors import PipelineInputError


def check_config(config):
    """Raise :class:`PipelineInputError` naming the key if the config cannot run.

    The schema has already checked each value on its own; this checks how they fit
    together: pinned models inside the fitted sweep, and enough points per dataset for
    the largest component count.
    """
    fit, bayesian = config["fit"], config["bayesian"]
    max_k = max(fit["n_components"])
    for name, spec in config["datasets"].items():
        pinned = spec.get("model")
        if pinned:
            if pinned["covariance_type"] not in fit["covariance_types"]:
                raise PipelineInputError(
                    f"datasets.{name}.model.covariance_type is {pinned['covariance_type']!r}, "
                    f"which is not in fit.covariance_types {fit['covariance_types']}"
                )
            if pinned["n_components"] not in fit["n_components"]:
                raise PipelineInputError(
                    f"datasets.{name}.model.n_components is {pinned['n_components']}, "
                    f"which is not in fit.n_components {fit['n_components']}"
                )
        n_samples = spec.get("n_samples")
        if n_samples is not None and n_samples < max(max_k, bayesian["max_components"]):
            raise PipelineInputError(
                f"datasets.{name}.n_samples is {n_samples}, fewer than the largest component "
                f"count (fit.n_components up to {max_k}, bayesian.max_components "
                f"{bayesian['max_components']}); expected at least one point per component"
            )


def schema_error_message(error):
    """One readable line from a jsonschema ``ValidationError``: the key, what is wrong, what fits.

    Snakemake's own message prints the whole sub-schema; users need the dotted key path
    (``fit.seeds``) and what the key accepts.
    """
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    message = f"config key '{key}': {error.message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        message += f"; allowed keys are {sorted(schema['properties'])}"
    elif schema.get("description"):
        message += f". Expected: {schema['description'].strip()}"
    return message
