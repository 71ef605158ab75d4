"""Errors the pipeline reports to users as plain messages, without a traceback."""

import argparse


class PipelineInputError(ValueError):
    """Bad user input: a config value or a data file that cannot be used as given.

    The message names the config key, file or column and says what was expected.
    """


class ModelFormatError(PipelineInputError):
    """A model file that is not a valid gmm-pipeline model."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser that refuses bad arguments with one line naming the program and
    what is wrong (exit status 2), where argparse prints its usage above the error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")
