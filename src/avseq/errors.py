"""User-facing errors: one line that names the file, line or value and says what to do."""


class AvseqError(Exception):
    """An error caused by input (a file, a manifest line, a checkpoint, a setting).

    The command-line tool prints its message as one line and exits with status 2, without a
    traceback, so the message itself must say what was wrong and what to do.
    """


class BadAudioError(AvseqError):
    """An audio file that cannot be used: missing, empty, truncated, not audio, silent or NaN."""


class ManifestError(AvseqError):
    """A manifest line that is not valid JSON, lacks a key, or has an unusable value."""


class BadVideoError(AvseqError):
    """A video file that cannot be used: missing, empty, damaged, not video, or no frames."""


class AnnotationError(AvseqError):
    """An annotation line that does not parse, or names an unknown label or missing video."""
