"""The kit's exceptions: each one says what went wrong and what to do about it."""


class AirlockError(Exception):
    """Base class: an error the kit anticipated and can explain to its user."""


class RegistryError(AirlockError):
    """A tenant or dataflow file is invalid; the message names the file, the field and the fix."""


class ConfigError(AirlockError):
    """The environment (AIRLOCK_* variables) is incomplete or inconsistent."""


class StorageError(AirlockError):
    """A storage location is unreachable or refused an operation."""


class StorageNotFound(StorageError):
    """The object does not exist (a missing marker is an answer, not a failure)."""


class UnsafeKeyError(StorageError):
    """An object key tries to leave its root (`..`, absolute) or carries control characters."""


class PartitionKeyError(AirlockError):
    """A processing run was started for a partition key the registry does not vouch for."""
