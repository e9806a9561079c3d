"""The one exception for bad user input: the CLI prints it as one line and exits with status 2."""


class UserError(Exception):
    """Bad input from the user (a wrong option, a missing file): one clear message."""
