"""Every exception the classifier package raises on purpose lives here."""

from __future__ import annotations


class ClassifierError(Exception):
    """Base for the classifier's own errors, so callers can catch them in one place."""


class ConfigurationError(ClassifierError):
    """A setting (argument or environment variable) has a value we cannot use."""


class ModelLoadError(ClassifierError):
    """The model or its tokenizer could not be loaded from the given path or hub id."""


class BatchMismatchError(ClassifierError):
    """A batched call returned a different number of answers than it was given inputs."""


class TrainingDataError(ClassifierError):
    """The training CSV is missing, empty or malformed; the message says what and where."""


class DeviceMemoryError(ClassifierError):
    """One text does not fit in the device's memory even alone; the engine split its batch down to it."""
