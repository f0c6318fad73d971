"""Errors that name the user's input (a params key, a file) instead of failing deep inside a library."""


class PipelineError(Exception):
    """A problem the user can fix; stage entry points print it without a traceback."""


class ParamError(PipelineError):
    def __init__(self, key: str, value, expected: str):
        self.key, self.value, self.expected = key, value, expected
        super().__init__(f"params.yaml: invalid value for '{key}': {value!r} (expected {expected})")


class DataError(PipelineError):
    """Bad or missing input data (a video, a split list, an archive)."""
