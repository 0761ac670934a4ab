"""The one error type that crosses rooms: `UserError`, a problem the user fixes (the data, the
schema, a flag, a missing file). The command line prints its message without a traceback and
exits 1; any other exception is a bug and keeps its traceback. Raise a subclass where the
problem is found (ingestion, the validation gate, the Trainer), so the message names it there."""


class UserError(Exception):
    """A problem with the user's data, files or settings; the message says what to do."""
