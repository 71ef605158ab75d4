"""The datasets a run makes, each with the pipeline settings its steps use.

A run's datasets are the entries of ``datasets`` and every point of each ``sweeps`` grid. A
point is the grid's base dataset with one value of each axis, named by those values
(``moons_k/n_samples~250/noise~0.02``) so that its results live in a folder that says what
it is. An axis is a key of the base dataset (``noise``, ``inject_outliers.fraction``) or a
pipeline setting (``fit.reg_covar``, ``anomalies.percentile``); a point's settings are the
top-level sections, the grid's ``settings`` over them, and its own axis values over those.

Nothing here reads data or imports scikit-learn: the Snakefile plans the run with it while
Snakemake reads the workflow.
"""

import copy
import itertools
import re
from dataclasses import dataclass, field

from jsonschema.exceptions import best_match

from ..errors import PipelineInputError
from ..files.summary_columns import DETECTOR_METRICS, SUMMARY_METRICS
from .config_checks import SOURCE_KEYS, normalise_fit, strict_validator

# The config sections whose values steps read; a sweep may set them per grid and per point.
SECTIONS = ("fit", "selection", "merging", "bayesian", "anomalies", "figures")
# More points than any sweep a machine here could run: a typo in an axis (a list of 10,000
# seeds) is refused before Snakemake builds a graph of a million jobs.
MAX_POINTS = 10_000
# Characters an axis value may have in a folder name.
FOLDER_SAFE = re.compile(r"^[A-Za-z0-9._+-]+$")
# Dataset keys that choose the source itself or hold lists are not axes; nor is a
# dataset's criterion, which the selection.criterion axis varies.
NOT_AXES = ("generator", "bundled", "path", "columns", "model", "criterion")
# Axis names that vary only the random draw: plots average over them.
SEED_AXIS = re.compile(r"(^|\.)seed$")


@dataclass(frozen=True)
class PlannedDataset:
    """One dataset of the run.

    Attributes
    ----------
    name : str
        Its folder name under each step's results (``moons``, ``moons_k/noise~0.05``).
    spec : dict
        Its dataset entry (source and options), as the data step reads it.
    settings : dict
        ``{section: settings}`` for each of :data:`SECTIONS`, defaults filled.
    key : str
        Its config key: ``datasets.moons`` or ``sweeps.moons_k``.
    sweep : str or None
        The grid it is a point of.
    values : dict
        ``{axis: value}`` of a sweep point, in the grid's axis order (empty otherwise).
    """

    name: str
    spec: dict
    settings: dict
    key: str
    sweep: str = None
    values: dict = field(default_factory=dict)

    def dataset_key(self, key):
        """How an error names a key of the dataset entry (``datasets.moons.n_samples``)."""
        if self.sweep is None:
            return f"{self.key}.{key}"
        where = f"sweeps.{self.sweep}.axes.{key}" if key in self.values else f"sweeps.{self.sweep}.base.{key}"
        return f"{where} (point {self.folder})"

    def setting_key(self, key):
        """How an error names a pipeline setting the dataset uses (``fit.n_components``)."""
        return key if self.sweep is None else f"{key} (sweeps.{self.sweep} point {self.folder})"

    @property
    def folder(self):
        """The point's folder below its sweep's (empty for a configured dataset)."""
        return self.name.partition("/")[2]

    @property
    def criterion(self):
        """The criterion whose choice the downstream steps use."""
        return self.spec.get("criterion", self.settings["selection"]["criterion"])

    @property
    def has_truth(self):
        """Whether the dataset has anomaly ground truth (injected outliers or labels)."""
        return "inject_outliers" in self.spec or self.spec.get("outlier_labels") is not None


def plan_datasets(config, schema):
    """Every dataset of the run, by name: the configured ones, then each sweep's points.

    Parameters
    ----------
    config : dict
        The config, validated against ``schema`` with its defaults filled.
    schema : dict
        The config schema, against which sweep axes and settings are checked.

    Returns
    -------
    plan : dict
        ``{name: PlannedDataset}``.

    Raises
    ------
    PipelineInputError
        Naming the sweep key and value when an axis is unknown, a value is not valid for
        its key or cannot name a folder, or a grid has too many points.
    """
    top = {section: config[section] for section in SECTIONS}
    plan = {
        name: PlannedDataset(name=name, spec=spec, settings=top, key=f"datasets.{name}")
        for name, spec in config["datasets"].items()
    }
    for sweep, grid in config.get("sweeps", {}).items():
        if sweep in config["datasets"]:
            raise PipelineInputError(
                f"sweeps.{sweep} has the name of a dataset; expected a name not used in datasets "
                f"(both are folders under results/)"
            )
        for point in sweep_points(sweep, grid, config, schema):
            plan[point.name] = point
    if not plan:
        raise PipelineInputError(
            "the config names no dataset; expected at least one entry in datasets or sweeps"
        )
    return plan


def sweep_points(sweep, grid, config, schema):
    """The points of one grid, each a :class:`PlannedDataset` (see :func:`plan_datasets`)."""
    prefix = f"sweeps.{sweep}"
    base = _base_spec(prefix, grid["base"], config)
    settings = _grid_settings(prefix, grid.get("settings", {}), config, schema)
    axes = grid["axes"]
    for axis in axes:
        _check_axis(prefix, axis, base, schema)
    # Each value on its own, with the others at the base: a bad value is named as such.
    labels = {}
    for axis, values in axes.items():
        labels[axis] = []
        for value in values:
            spec, point_settings = _apply(base, settings, {axis: value})
            _validate_point(f"{prefix}.axes.{axis}", value, spec, point_settings, schema)
            labels[axis].append(_folder_label(f"{prefix}.axes.{axis}", value))
        if len(set(labels[axis])) < len(values):
            raise PipelineInputError(
                f"config key '{prefix}.axes.{axis}' has values that name the same folder "
                f"({labels[axis]}); expected distinct values"
            )
    n_points = 1
    for values in axes.values():
        n_points *= len(values)
    if n_points > MAX_POINTS:
        raise PipelineInputError(
            f"config key '{prefix}.axes' makes {n_points:,} points; expected at most {MAX_POINTS:,}"
        )
    names = list(axes)
    for indices in itertools.product(*(range(len(axes[axis])) for axis in names)):
        chosen = list(zip(names, indices, strict=True))
        values = {axis: axes[axis][index] for axis, index in chosen}
        folder = "/".join(f"{axis}~{labels[axis][index]}" for axis, index in chosen)
        spec, point_settings = _apply(base, settings, values)
        yield PlannedDataset(
            name=f"{sweep}/{folder}",
            spec=spec,
            settings=point_settings,
            key=prefix,
            sweep=sweep,
            values=values,
        )


def dataset_pattern(plan):
    """A regular expression that matches exactly the plan's dataset names: each configured
    name, and a sweep's name followed by one ``/<axis>~<value>`` per axis."""
    configured = [re.escape(name) for name, planned in plan.items() if planned.sweep is None]
    axes_per_sweep = {}
    for planned in plan.values():
        if planned.sweep is not None:
            axes_per_sweep[planned.sweep] = list(planned.values)
    points = [
        re.escape(sweep) + "".join(f"/{re.escape(axis)}~[A-Za-z0-9._+-]+" for axis in axes)
        for sweep, axes in axes_per_sweep.items()
    ]
    return "|".join(configured + points) or "(?!)"


def is_seed_axis(axis):
    """Whether an axis varies only a random seed (plots show the spread over it)."""
    return bool(SEED_AXIS.search(axis))


def _base_spec(prefix, base, config):
    if isinstance(base, str):
        if base not in config["datasets"]:
            raise PipelineInputError(
                f"config key '{prefix}.base' is {base!r}, which is not an entry of datasets; "
                f"expected one of {sorted(config['datasets'])} or a dataset entry"
            )
        return copy.deepcopy(config["datasets"][base])
    return copy.deepcopy(base)


def _grid_settings(prefix, overrides, config, schema):
    """The top-level sections with the grid's ``settings`` over them, checked like the config."""
    settings = {}
    for section in SECTIONS:
        merged = _merged(config[section], overrides.get(section, {}))
        _fill_defaults(merged, schema["properties"][section], schema)
        error = best_match(
            strict_validator(_with_defs(schema["properties"][section], schema)).iter_errors(merged)
        )
        if error is not None:
            key = ".".join(str(part) for part in error.absolute_path)
            raise PipelineInputError(
                f"config key '{prefix}.settings.{section}{'.' + key if key else ''}': {error.message}"
            )
        if section == "fit":
            normalise_fit(merged, f"{prefix}.settings.fit")
        settings[section] = merged
    return settings


def _check_axis(prefix, axis, base, schema):
    """Refuse an axis that names no scalar key of the base dataset or of a section."""
    section = axis.split(".")[0]
    if section in SECTIONS:
        allowed = _scalar_keys(schema["properties"][section], schema, section)
    else:
        allowed = _scalar_keys(_source_schema(base, schema), schema, "")
        allowed = [key for key in allowed if key.split(".")[0] not in NOT_AXES]
    if axis not in allowed:
        raise PipelineInputError(
            f"config key '{prefix}.axes.{axis}' is not a key the points can vary; expected a key of the "
            f"base dataset ({', '.join(sorted(k for k in allowed if '.' not in k) or ['none'])}, "
            f"inject_outliers.fraction, ...) or a setting such as fit.reg_covar or anomalies.percentile"
        )
    if section == "inject_outliers" and isinstance(base.get("inject_outliers"), list):
        raise PipelineInputError(
            f"config key '{prefix}.axes.{axis}' varies inject_outliers, which the base gives as a list "
            f"of kinds; an axis can vary a single inject_outliers entry only"
        )


def _scalar_keys(node, schema, prefix):
    """Dotted names of every key under ``node`` that holds a value rather than an object."""
    node = _resolve(node, schema)
    keys = []
    for name, child in node.get("properties", {}).items():
        dotted = f"{prefix}.{name}" if prefix else name
        child = _resolve(child, schema)
        # A key that is one object or a list of them (inject_outliers): its object's keys.
        child = next((_resolve(option, schema) for option in child.get("oneOf", [])), child)
        if child.get("type") == "object" and "properties" in child:
            keys += _scalar_keys(child, schema, dotted)
        elif child.get("type") != "array":
            keys.append(dotted)
    return keys


def _source_schema(spec, schema):
    """The schema of the dataset entry's own source (moons, bundled, file, ...)."""
    if "generator" in spec:
        return schema["$defs"].get(spec["generator"], {})
    for source, name in (("bundled", "bundled"), ("path", "file")):
        if source in spec:
            return schema["$defs"][name]
    return {}


def _apply(base, settings, values):
    """The dataset entry and settings of a point with these axis values."""
    spec, point_settings = copy.deepcopy(base), dict(settings)
    for axis, value in values.items():
        parts = axis.split(".")
        if parts[0] in SECTIONS:
            section = copy.deepcopy(point_settings[parts[0]])
            _set(section, parts[1:], value)
            point_settings[parts[0]] = section
            if axis == "selection.criterion":
                # The axis decides the criterion, not a per-dataset one the base may name.
                spec.pop("criterion", None)
        else:
            _set(spec, parts, value)
    return spec, point_settings


def _validate_point(key, value, spec, settings, schema):
    """Check a point's dataset entry and settings against the schema, naming the axis."""
    checks = [(schema["$defs"]["dataset"], spec)]
    checks += [(schema["properties"][section], settings[section]) for section in SECTIONS]
    for node, instance in checks:
        error = best_match(strict_validator(_with_defs(node, schema)).iter_errors(instance))
        if error is not None:
            raise PipelineInputError(f"config key '{key}': value {value!r} is not valid: {error.message}")
    sources = [source for source in SOURCE_KEYS if source in spec]
    if len(sources) != 1:
        raise PipelineInputError(
            f"config key '{key}': the base has {'no source' if not sources else 'sources ' + ', '.join(sources)}; "
            f"expected exactly one of {', '.join(SOURCE_KEYS)}"
        )


def _folder_label(key, value):
    """How a value names its folder: ``0.05``, ``1000``, ``true``, ``bic``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if not FOLDER_SAFE.match(value):
        raise PipelineInputError(
            f"config key '{key}': value {value!r} cannot name a folder; expected letters, digits and . _ + -"
        )
    return value


def _set(mapping, parts, value):
    for part in parts[:-1]:
        mapping = mapping.setdefault(part, {})
    mapping[parts[-1]] = value


def _merged(base, overrides):
    """``base`` with ``overrides`` over it, nested dicts merged key by key (copies)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _fill_defaults(instance, node, schema):
    """Fill schema defaults into nested settings objects the grid added (in place)."""
    node = _resolve(node, schema)
    for name, child in node.get("properties", {}).items():
        child = _resolve(child, schema)
        if name not in instance and "default" in child:
            instance[name] = copy.deepcopy(child["default"])
        if isinstance(instance.get(name), dict) and child.get("type") == "object":
            _fill_defaults(instance[name], child, schema)


def _resolve(node, schema):
    while isinstance(node, dict) and "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _with_defs(node, schema):
    return {**node, "$defs": schema.get("$defs", {})}


GROUPINGS = ("criterion", "detector")


def plot_specs(sweep, plan, config):
    """A sweep's figures, ``{name: {x, y, hue, criterion, detector, log_x}}``: its
    configured ``plots``, checked against its axes and metrics, or the defaults.

    The defaults: the chosen k against the first axis that is not a seed, one line per
    value of the next such axis; and where the points have ground truth, F1 against the
    same axis, one line per detector.

    Raises
    ------
    PipelineInputError
        Naming the plot key when x is no axis, y no metric, or hue neither.
    """
    grid = config["sweeps"][sweep]
    axes = list(grid["axes"])
    points = [planned for planned in plan.values() if planned.sweep == sweep]
    has_truth = any(planned.has_truth for planned in points)
    plots = grid.get("plots")
    if not plots:
        varied = [axis for axis in axes if not is_seed_axis(axis)] or axes
        plots = {"chosen_k": {"x": varied[0], "y": "n_components"}}
        if len(varied) > 1:
            plots["chosen_k"]["hue"] = varied[1]
        if has_truth:
            plots["f1"] = {"x": varied[0], "y": "f1", "hue": "detector"}
    checked = {}
    for name, plot in plots.items():
        key = f"sweeps.{sweep}.plots.{name}"
        if plot["x"] not in axes:
            raise PipelineInputError(
                f"config key '{key}.x' is {plot['x']!r}; expected an axis of the sweep: {axes}"
            )
        if plot["y"] not in SUMMARY_METRICS + DETECTOR_METRICS:
            raise PipelineInputError(
                f"config key '{key}.y' is {plot['y']!r}; expected a column of summary.csv "
                f"{list(SUMMARY_METRICS)} or detectors.csv {list(DETECTOR_METRICS)}"
            )
        hue = plot.get("hue")
        if hue is not None and hue not in axes + list(GROUPINGS):
            raise PipelineInputError(
                f"config key '{key}.hue' is {hue!r}; expected an axis of the sweep {axes}, criterion or detector"
            )
        detector_plot = plot["y"] in DETECTOR_METRICS
        if hue == ("criterion" if detector_plot else "detector"):
            raise PipelineInputError(
                f"config key '{key}.hue' is {hue!r}, but y {plot['y']!r} has no such column; "
                f"expected {'detector' if detector_plot else 'criterion'} or an axis"
            )
        if detector_plot and plot["y"] != "n_flagged" and not has_truth:
            raise PipelineInputError(
                f"config key '{key}.y' is {plot['y']!r}, which needs ground truth; the points of "
                f"sweeps.{sweep} have none (add inject_outliers or outlier_labels to the base)"
            )
        checked[name] = {
            "x": plot["x"],
            "y": plot["y"],
            "hue": hue,
            "criterion": plot.get("criterion"),
            "detector": plot.get("detector", "gmm"),
            "log_x": plot.get("log_x", False),
        }
    return checked
