"""Errors the pipeline reports to users as plain messages, without a traceback."""


class PipelineInputError(ValueError):
    """Bad user input: a config value or a data file that cannot be used as given.

    The message names the config key, file or column and says what was expected.
    """


class ModelFormatError(PipelineInputError):
    """A model file that is not a valid gmm-pipeline model."""
