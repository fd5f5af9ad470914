"""What the containers service raises; the API maps each to docker's status code."""


class ContainerError(Exception):
    """Base class; `str(error)` is docker's message."""


class NotFound(ContainerError):               # 404
    pass


class Conflict(ContainerError):               # 409
    pass


class InvalidParameter(ContainerError):       # 400
    pass


class NotModified(ContainerError):            # 304: already started / already stopped
    pass


class StartError(ContainerError):
    """The container could not start; `exit_code` is docker's: 127 not found, 126 cannot run, 125 engine."""

    def __init__(self, message, exit_code=125):
        ContainerError.__init__(self, message)
        self.exit_code = exit_code
