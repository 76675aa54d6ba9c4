"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class HetrecError(Exception):
    """A user-facing error: the message is one line naming file, row and column where known,
    and says what to do next. The CLI prints it without a traceback (``--debug`` shows one)."""


def where(path, row=None, column=None) -> str:
    """Format a location prefix: ``ratings.csv, row 12, column 'rating'``.

    Rows are 1-based data rows counted as in a spreadsheet: the header is row 1,
    so the first data row is row 2.
    """
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
