"""A Snakemake job as plain data, so that it can be run here or handed to the warm worker.

Snakemake gives a ``script:`` its job as a ``snakemake`` object. Everything a step reads
from it (inputs, outputs, params, wildcards, log, threads, config) is turned into JSON by
:func:`job_to_json` and back into an object with the same attribute access by
:func:`job_from_json`. Every job goes through that round trip, whether it then runs in the
job's own process or in the warm worker (:mod:`gmm_pipeline.execution.worker_client`), so both run the same.
"""

import json

_NAMED_FIELDS = ("input", "output", "params", "wildcards", "log")


class NamedItems(list):
    """Items that are also reachable by name, as in Snakemake's ``Namedlist``.

    Parameters
    ----------
    items : list
        The items in order, as ``list(namedlist)`` gives them.
    names : dict
        Each name and its value, as ``dict(namedlist.items())`` gives them; a name may
        stand for one item or a list of them.
    """

    def __init__(self, items, names):
        super().__init__(items)
        self._names = dict(names)

    def __getattr__(self, name):
        try:
            return self.__dict__["_names"][name]
        except KeyError:
            raise AttributeError(f"no item named {name!r}; named items: {sorted(self._names)}") from None

    def items(self):
        return self._names.items()


class Job:
    """One Snakemake job: the attributes of Snakemake's ``snakemake`` object that steps use."""

    def __init__(self, *, rule, step, cwd, threads, config, **named):
        self.rule = rule
        self.step = step
        self.cwd = cwd
        self.threads = threads
        self.config = config
        for field in _NAMED_FIELDS:
            setattr(self, field, NamedItems(**named[field]))


def job_to_json(smk, step, cwd):
    """Serialise the job Snakemake handed a ``script:`` (``smk``) for running ``step``.

    Raises :class:`TypeError` naming the field when a value is not plain JSON data.
    """
    fields = {"rule": smk.rule, "step": step, "cwd": str(cwd), "threads": smk.threads, "config": smk.config}
    for field in _NAMED_FIELDS:
        namedlist = getattr(smk, field)
        fields[field] = {
            "items": list(namedlist),
            "names": {name: value for name, value in namedlist.items()},
        }
    try:
        return json.dumps(fields)
    except TypeError as err:
        bad = [name for name, value in fields.items() if not _is_json(value)]
        raise TypeError(f"job of rule {smk.rule}: {', '.join(bad)} cannot be passed as JSON: {err}") from err


def job_from_json(text):
    """The :class:`Job` that :func:`job_to_json` serialised."""
    return Job(**json.loads(text))


def _is_json(value):
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
