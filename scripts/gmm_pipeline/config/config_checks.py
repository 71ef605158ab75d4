"""Config handling beyond the JSON schema itself.

``check_config`` checks how keys fit together; ``coerce_cli_strings`` reads numbers typed
on the command line as numbers; ``check_config_size`` refuses a config too large to be one
a person wrote (YAML aliases that expand without bound); ``check_strict_types`` refuses a
float where the schema asks for an integer; ``config_errors_reported`` words any config
error as one line naming the key.
"""

import contextlib
import math
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match

from ..errors import PipelineInputError
from ..files.artifacts import PARQUET_SUFFIXES, csv_header, text_rows
from ..maths.covariance_models import PRIOR_MODELS, pipeline_names
from ..maths.estimators import COVARIANCE_TYPES, fewest_points
from ..maths.merge_hennig import CUTOFFS
from ..maths.outlier_kinds import DEFAULTS as KIND_OPTIONS
from .memory import generated_features, parquet_shape

SOURCE_KEYS = ("generator", "bundled", "path")
# More values than any hand-written config holds: a larger one is refused before anything
# walks it (an 850-byte YAML file of nested aliases expands to billions of values).
MAX_CONFIG_VALUES = 100_000
# More EM starts per dataset than a run is meant to hold: at about 10 ms a start on a
# thousand rows, hours of one core. A larger study belongs in a sweep of smaller points.
MAX_EM_STARTS = 1_000_000
# JSON-schema type names of the values yaml.safe_load can give for a scalar.


def check_config(config, plan):
    """Raise :class:`PipelineInputError` naming the key if the config cannot run.

    The schema has already checked each value on its own; this checks what it cannot:
    that numbers are finite (jsonschema lets NaN through every bound), and, for every
    dataset of the run (``plan``, from :func:`gmm_pipeline.config.plan.plan_datasets`), that it has
    one source, that its pinned model lies inside its fitted sweep, and that it has enough
    points for its largest component count.
    """
    for key, number in _numbers(config):
        if not math.isfinite(number):
            raise PipelineInputError(f"config key '{key}' is {number}; expected a finite number")
    for planned in plan.values():
        check_dataset(planned)


def check_dataset(planned):
    """Check one dataset of the run against the settings it runs with (see :func:`check_config`)."""
    spec, settings = planned.spec, planned.settings
    fit, bayesian = settings["fit"], settings["bayesian"]
    max_k = max(fit["n_components"])
    sources = [key for key in SOURCE_KEYS if key in spec]
    if len(sources) != 1:
        raise PipelineInputError(
            f"{planned.key} has {'no source' if not sources else 'sources ' + ', '.join(sources)}; "
            f"expected exactly one of {', '.join(SOURCE_KEYS)}"
        )
    if "path" in spec and not Path(spec["path"]).is_file():
        # Checked here, not left to the job: with earlier results present, Snakemake would
        # otherwise skip the dataset silently instead of saying the file is gone.
        raise PipelineInputError(
            f"{planned.dataset_key('path')} is {spec['path']!r}, which is not a file "
            f"(relative paths start from the working directory {Path.cwd()})"
        )
    if spec.get("outlier_labels") is not None and "path" in spec and "label_column" not in spec:
        raise PipelineInputError(
            f"{planned.dataset_key('outlier_labels')} needs {planned.dataset_key('label_column')}: "
            f"the column the labels are in"
        )
    # Already in the pipeline's names (normalise_fit, for the config and each sweep).
    others = [kind for kind in fit["covariance_types"] if kind not in COVARIANCE_TYPES]
    if others and fit.get("engine") == "sklearn":
        raise PipelineInputError(
            f"{planned.setting_key('fit.covariance_types')} has {', '.join(others)}, which need "
            f"{planned.setting_key('fit.engine')}: fast (the fourteen-model engine)"
        )
    without_prior = [kind for kind in others if kind not in PRIOR_MODELS]
    if without_prior and fit.get("prior", "none") != "none":
        raise PipelineInputError(
            f"{planned.setting_key('fit.prior')}: mclust has no conjugate prior for {', '.join(without_prior)} "
            f"(it has one for {', '.join(PRIOR_MODELS)} and scikit-learn's four types)"
        )
    pinned = spec.get("model")
    if pinned:
        if pipeline_names([pinned["covariance_type"]])[0] not in fit["covariance_types"]:
            raise PipelineInputError(
                f"{planned.dataset_key('model.covariance_type')} is {pinned['covariance_type']!r}, "
                f"which is not in {planned.setting_key('fit.covariance_types')} {fit['covariance_types']}"
            )
        if pinned["n_components"] not in fit["n_components"]:
            raise PipelineInputError(
                f"{planned.dataset_key('model.n_components')} is {pinned['n_components']}, "
                f"which is not in {planned.setting_key('fit.n_components')} {fit['n_components']}"
            )
    # What the row count alone refuses, checked before any job so that no step fails
    # after Snakemake has deleted its earlier outputs: a file's rows are counted here.
    n_samples = _file_rows(spec["path"]) if "path" in spec else spec.get("n_samples")
    # How a message names the row count: "<file> has 50 data rows" or "<key> is 50".
    rows_named = (
        f"{spec['path']} has {n_samples} data rows"
        if "path" in spec
        else f"{planned.dataset_key('n_samples')} is {n_samples}"
    )
    if n_samples is not None and n_samples < max(max_k, bayesian["max_components"]):
        raise PipelineInputError(
            f"{rows_named}, fewer than the largest "
            f"component count ({planned.setting_key('fit.n_components')} up to {max_k}, "
            f"bayesian.max_components {bayesian['max_components']}); expected at least one point per component"
        )
    folds = settings["selection"]["cross_validation"]["folds"]
    if folds and n_samples is not None and folds > n_samples:
        raise PipelineInputError(
            f"{rows_named}, fewer than "
            f"{planned.setting_key('selection.cross_validation.folds')} = {folds}; expected at least "
            f"one row per fold: use fewer folds (0 switches cross-validation off)"
        )
    if folds and n_samples is not None and n_samples - math.ceil(n_samples / folds) < max_k:
        raise PipelineInputError(
            f"{rows_named}: with "
            f"{planned.setting_key('selection.cross_validation.folds')} = {folds} a training fold has "
            f"{n_samples - math.ceil(n_samples / folds)} points, fewer than the largest "
            f"component count in fit.n_components ({max_k}); use fewer folds or more data"
        )
    n_features = _feature_count(spec)
    if n_samples is not None and n_features is not None:
        min_k = min(fit["n_components"])
        min_points = fit["degenerate"].get("min_points")
        # The covariance type that asks least of a component's own points decides.
        fewest = (
            min(fewest_points(covariance_type, n_features) for covariance_type in fit["covariance_types"])
            if min_points is None
            else min_points
        )
        if n_samples < min_k * fewest:
            raise PipelineInputError(
                f"{rows_named} for {n_features} "
                f"features: every fit of {planned.setting_key('fit.n_components')} (from {min_k}) would be "
                f"degenerate, since a component needs {fewest:g} points "
                f"({planned.setting_key('fit.degenerate.min_points')}, by default features + 1, "
                f"none for tied); "
                f"expected at least {math.ceil(min_k * fewest)} rows"
            )
    starts = em_starts(settings)
    if starts > MAX_EM_STARTS:
        raise PipelineInputError(
            f"{planned.key}: the settings ask for about {starts:,} EM starts per dataset, more than the "
            f"{MAX_EM_STARTS:,} a run may take (hours on one core); lower "
            f"{planned.setting_key('fit.seeds')}, selection.stability.bootstrap, selection.lrt.replicates "
            f"or bayesian.n_init, or split the work into a sweep"
        )
    if fit["engine"] == "sklearn":
        if fit["prior"] != "none":
            raise PipelineInputError(
                f"{planned.setting_key('fit.prior')} needs {planned.setting_key('fit.engine')}: fast; "
                f"scikit-learn's GaussianMixture has no conjugate prior"
            )
        stability = settings["selection"]["stability"]
        if stability["bootstrap"] > 0 and stability["method"] == "weighted":
            raise PipelineInputError(
                f"{planned.setting_key('selection.stability.method')} 'weighted' needs "
                f"{planned.setting_key('fit.engine')}: fast (scikit-learn's GaussianMixture takes no "
                f"sample weights); use method: resample, or engine: fast"
            )
    lrt = settings["selection"]["lrt"]
    if lrt["replicates"] > 0:
        counts = set(fit["n_components"])
        last = lrt["max_k"] + 1 if lrt["max_k"] is not None else 2
        missing = sorted(set(range(1, last + 1)) - counts)
        if missing:
            raise PipelineInputError(
                f"{planned.setting_key('selection.lrt')} tests k against k + 1 from k = 1"
                + (f" up to max_k = {lrt['max_k']}" if lrt["max_k"] is not None else "")
                + f", but {planned.setting_key('fit.n_components')} lacks {missing}; fit those counts"
            )
    for key, entry in _injections(planned):
        kind = entry.get("kind", "uniform")
        foreign = sorted(set(entry) - {"fraction", "kind", "seed"} - set(KIND_OPTIONS[kind]))
        if foreign:
            raise PipelineInputError(
                f"{key}.{foreign[0]} does not apply to kind {kind!r}; its options are "
                f"{', '.join(['fraction', 'seed', *KIND_OPTIONS[kind]])}"
            )
    merging = settings["merging"]
    if merging["cutoff"] is not None and merging["rule"] not in CUTOFFS:
        raise PipelineInputError(
            f"{planned.setting_key('merging.cutoff')} applies to the rules {', '.join(CUTOFFS)}, "
            f"but {planned.setting_key('merging.rule')} is {merging['rule']!r}; expected cutoff: null"
        )
    anomalies = settings["anomalies"]
    if anomalies["threshold"] == "log_density" and anomalies["log_density"] is None:
        raise PipelineInputError(
            f"{planned.setting_key('anomalies.threshold')} is 'log_density' but anomalies.log_density "
            f"is not set; expected the log-density value below which points are anomalies"
        )


def em_starts(settings):
    """About how many EM starts a dataset's jobs run under ``settings``: the fit sweep, its
    refits for cross-validation, stability and the bootstrap LRT, and the Bayesian starts."""
    fit, selection = settings["fit"], settings["selection"]
    seeds = fit["seeds"] if isinstance(fit["seeds"], int) else len(fit["seeds"])
    models = len(fit["covariance_types"]) * len(fit["n_components"])
    per_model = seeds * len(fit["init_params"])
    cross_validation = selection["cross_validation"]
    stability = selection["stability"]
    refits = (
        cross_validation["folds"] * cross_validation["seeds"]
        + (stability["bootstrap"] + stability["data_seeds"]) * stability["seeds"]
        + 2 * selection["lrt"]["replicates"]
    )
    return models * (per_model + refits) + settings["bayesian"]["n_init"]


def _file_rows(path):
    """A user's file's data rows: a Parquet file's from its footer, a CSV file's counted."""
    if Path(path).suffix.lower() in PARQUET_SUFFIXES:
        shape = parquet_shape(path)
        return None if shape is None else shape[0]
    csv_header(path)  # refuses, naming the file, what is not CSV text: compressed, not UTF-8
    return text_rows(path)


def _feature_count(spec):
    """How many features a dataset entry fits, where the config and a file's header tell."""
    if "generator" in spec:
        return generated_features(spec)
    if "path" not in spec:
        return None
    if spec.get("columns") is not None:
        return len(spec["columns"])
    if Path(spec["path"]).suffix.lower() in PARQUET_SUFFIXES:
        return None
    return len(csv_header(spec["path"])) - ("label_column" in spec)


def _injections(planned):
    """Each ``inject_outliers`` entry of a dataset with its config key."""
    injected = planned.spec.get("inject_outliers")
    if isinstance(injected, list):
        return [(planned.dataset_key(f"inject_outliers.{i}"), entry) for i, entry in enumerate(injected)]
    return [(planned.dataset_key("inject_outliers"), injected)] if injected else []


def normalise_config(config):
    """Give keys that accept a shorthand their one canonical form, after validation.

    ``fit.init_params`` may be one method or a list of them; steps always see a list.
    mclust's names of scikit-learn's four covariance types (VII, VVI, EEE, VVV) become
    scikit-learn's (spherical, diag, tied, full).
    """
    normalise_fit(config["fit"], "fit")
    for spec in (config.get("datasets") or {}).values():
        if (
            isinstance(spec, dict)
            and isinstance(spec.get("model"), dict)
            and "covariance_type" in spec["model"]
        ):
            spec["model"]["covariance_type"] = pipeline_names([spec["model"]["covariance_type"]])[0]


def normalise_fit(fit, key):
    """The canonical form of a ``fit`` section (the config's, or a sweep's settings at
    ``key``), in place: a list of init methods, and scikit-learn's name of each of the
    four covariance models it has (one name per model)."""
    if isinstance(fit.get("init_params"), str):
        fit["init_params"] = [fit["init_params"]]
    if "covariance_types" in fit:
        try:
            fit["covariance_types"] = pipeline_names(fit["covariance_types"])
        except ValueError as err:
            raise PipelineInputError(f"{key}.covariance_types: {err}") from None


def check_config_size(config, limit=MAX_CONFIG_VALUES):
    """Refuse a config with more than ``limit`` values, counting every alias expansion.

    Counts without recursion and stops at the limit, so it takes no longer than ``limit``
    steps whatever the config's expanded size.
    """
    pending, seen = [config], 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > limit:
            raise PipelineInputError(
                f"the config holds more than {limit} values (YAML anchors and aliases that "
                f"expand without bound?); write the values out or shorten the lists"
            )
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _is_integer(checker, instance):
    # jsonschema counts 7.0 as an integer; the steps pass it to range() and numpy.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


def strict_validator(schema):
    """A JSON-schema validator for ``schema`` that counts ``7.0`` as no integer."""
    return _StrictValidator(schema)


def check_strict_types(config, schema):
    """Refuse a float (such as ``7.0``) where ``schema`` asks for an integer, naming the key."""
    error = best_match(strict_validator(schema).iter_errors(config))
    if error is not None:
        raise PipelineInputError(schema_error_message(error))


def _numbers(value, key=""):
    """Every float in a nested config, with its dotted key."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _numbers(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{key}.{index}")
    elif isinstance(value, float):
        yield key, value


@contextlib.contextmanager
def config_errors_reported(prefix="Invalid config"):
    """Stop Snakemake with one line naming the key when the config (or a file it names)
    cannot run: ``<prefix>: <message>`` on stderr, exit status 1.

    Catches both a failed ``snakemake.utils.validate`` (whose jsonschema error is kept as
    the exception's context) and a :class:`PipelineInputError`. The run ends with
    ``SystemExit``: Snakemake prints an exception raised in a Snakefile with the stack of
    Snakefile lines it passed through, which says nothing to a user about their config.
    """
    from snakemake.exceptions import WorkflowError

    try:
        yield
    except WorkflowError as err:
        if not isinstance(err.__context__, ValidationError):
            raise
        message = schema_error_message(err.__context__)
    except PipelineInputError as err:
        message = str(err)
    else:
        return
    print(f"{prefix}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UniqueKeyLoader(_BaseLoader):
    """YAML's safe loader (libyaml's when PyYAML has it), refusing a key repeated in one
    mapping: plain YAML lets the last one win, silently, so a second ``seeds:`` under
    ``fit`` would replace the first. Keys brought in by a merge (``<<: *defaults``) may
    be overridden, as YAML intends."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key; the constructor below names it
                continue
            if first != line:
                raise PipelineInputError(
                    f"{key_node.start_mark.name}: key {key!r} appears twice in one mapping, at lines "
                    f"{first} and {line}; YAML would silently keep only the second, so keep one"
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(path):
    """Read a YAML (or JSON) file with :class:`UniqueKeyLoader`."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=UniqueKeyLoader)


def check_unique_keys(paths):
    """Refuse a config file that repeats a key in one mapping (Snakemake reads it with the
    last one winning), naming the file, the key and both lines."""
    for path in paths:
        load_yaml(path)


def read_schema(path):
    """Load a YAML or JSON schema file (a repeated key refused)."""
    return load_yaml(path)


def schema_error_message(error):
    """One readable line from a jsonschema ``ValidationError``: the key, what is wrong, what fits.

    Snakemake's own message prints the whole sub-schema; users need the dotted key path
    (``fit.seeds``) and what the key accepts. A value that fits none of a key's forms (one
    entry or a list of them) is described by the key inside it that is wrong, where there is one.
    """
    if error.context:
        inner = best_match([error])
        if len(inner.absolute_path) > len(error.absolute_path):
            error = inner
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    message = f"config key '{key}': {error.message}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        message += f"; allowed keys are {sorted(schema['properties'])}"
    elif schema.get("description"):
        message += f". Expected: {schema['description'].strip()}"
    return message


def coerce_cli_strings(value, schema, root=None):
    """Turn strings into numbers, booleans or null where the schema allows no string.

    Snakemake reads nested ``--config`` values with YAML's BaseLoader, which keeps every
    scalar a string: ``--config anomalies='{percentile: 10}'`` gives ``"10"``. Where such a
    string is not valid at its key and what it reads as in YAML is (a number, a boolean,
    null), the reading replaces it; a string valid as it stands is never touched.

    Parameters
    ----------
    value : object
        The config (or a part of it); dicts and lists are updated in place.
    schema : dict
        The JSON schema describing ``value``.
    root : dict, optional
        The whole schema, against which local ``$ref`` are resolved.

    Returns
    -------
    value : object
        The coerced value.
    """
    root = schema if root is None else root
    schemas = _alternatives(schema, root)
    if isinstance(value, dict):
        for sub in list(schemas):
            for branch in sub.get("allOf", []):
                if "then" in branch and Draft202012Validator(branch.get("if", {})).is_valid(value):
                    schemas += _alternatives(branch["then"], root)
        for key in value:
            for sub in schemas:
                extra = sub.get("additionalProperties")
                child = sub.get("properties", {}).get(key, extra if isinstance(extra, dict) else None)
                if child is not None:
                    value[key] = coerce_cli_strings(value[key], child, root)
    elif isinstance(value, list):
        for sub in schemas:
            if isinstance(sub.get("items"), dict):
                value[:] = [coerce_cli_strings(item, sub["items"], root) for item in value]
    elif isinstance(value, str) and not _valid(value, schema, root):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, str):
            # YAML 1.1 reads "1e-4" (no decimal point) as a string; Python does not.
            with contextlib.suppress(ValueError):
                parsed = float(value)
        # A value of a type the key takes is kept even when out of range, so that the
        # error says what is wrong with it ("-3 is less than the minimum of 1"), not that
        # it is a string.
        if not isinstance(parsed, str) and (
            _valid(parsed, schema, root) or _json_type(parsed) & _types(schema, root)
        ):
            return parsed
    return value


def _json_type(value):
    """The JSON-schema type names ``value`` satisfies (a YAML scalar: no str)."""
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"} | ({"integer"} if value.is_integer() else set())
    return {"null"} if value is None else set()


def _types(schema, root):
    """Every type name a key's schema (with its alternatives) allows."""
    found = set()
    for sub in _alternatives(schema, root):
        kind = sub.get("type", [])
        found.update([kind] if isinstance(kind, str) else kind)
    return found


def _valid(value, schema, root):
    """Whether ``value`` is valid under ``schema`` (a part of ``root``)."""
    return Draft202012Validator({**schema, "$defs": root.get("$defs", {})}).is_valid(value)


def _alternatives(schema, root):
    """The schema with its ``$ref`` resolved, plus its ``oneOf``/``anyOf`` branches."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    found = [schema]
    for key in ("oneOf", "anyOf"):
        for branch in schema.get(key, []):
            found += _alternatives(branch, root)
    return found
