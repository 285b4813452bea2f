"""Errors of the registry domain."""

from __future__ import annotations

from modelyard.errors import (
    Conflict,
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ServiceUnavailable,
)

__all__ = [
    "AliasNotFound",
    "AmbiguousModel",
    "ExternalModelData",
    "InvalidModelFile",
    "InvalidSchema",
    "ModelCrashed",
    "ModelFileTooLarge",
    "ModelNotFound",
    "ModelQuarantined",
    "ModelTimedOut",
    "NotQuarantined",
    "PickleNotAllowed",
    "RegistryError",
    "UnsafeModelStructure",
    "UnsupportedOperatorDomain",
    "UntrustedModelTypes",
    "VersionNotFound",
]


class RegistryError(ModelyardError):
    """Root of the registry's client-facing errors."""


class ModelNotFound(RegistryError, NotFound):
    code = "model_not_found"
    message = "Model not found"


class VersionNotFound(RegistryError, NotFound):
    code = "model_version_not_found"
    message = "Model version not found"


class AliasNotFound(RegistryError, NotFound):
    code = "model_alias_not_found"
    message = "Model alias not found"


class InvalidModelFile(RegistryError, InvalidInput):
    code = "invalid_model_file"
    message = "The file is not a model this server can load"


class UntrustedModelTypes(InvalidModelFile):
    code = "untrusted_model_types"
    message = "The skops file holds types that are not on the server's allow-list"


class UnsafeModelStructure(InvalidModelFile):
    code = "unsafe_model_structure"
    message = (
        "An estimator in the file holds arrays that would drive its compiled code out of bounds"
    )


class ExternalModelData(InvalidModelFile):
    code = "external_model_data"
    message = "The ONNX model keeps tensor data outside the file"


class UnsupportedOperatorDomain(InvalidModelFile):
    code = "unsupported_operator_domain"
    message = "The ONNX model uses operators onnxruntime cannot run here"


class PickleNotAllowed(RegistryError, PermissionDenied):
    code = "pickle_not_allowed"
    message = (
        "pickle/joblib files run code when loaded: only an admin may upload them, and only"
        " when MODELYARD_REGISTRY_ALLOW_ADMIN_PICKLE is set; upload skops or ONNX instead"
    )


class InvalidSchema(RegistryError, InvalidInput):
    code = "invalid_input_schema"
    message = "The input schema is invalid or does not match the model"


class ModelFileTooLarge(RegistryError, PayloadTooLarge):
    code = "model_file_too_large"
    message = "The uploaded file is too large"


class AmbiguousModel(RegistryError, Conflict):
    code = "ambiguous_model"
    message = "Several users have a model of this name; pass owner_id"


class ModelCrashed(RegistryError):
    """The model's worker process died (a signal, or it exited) while it held a request."""

    status_code = 500
    code = "model_crashed"
    message = "The model's worker process crashed; it is restarted for the next request"


class ModelTimedOut(RegistryError):
    """The model's worker held one request past ``worker_predict_timeout_seconds``: killed."""

    status_code = 504
    code = "model_timeout"
    message = "The model took too long and its worker process was stopped"


class ModelQuarantined(RegistryError, ServiceUnavailable):
    """A version whose workers crashed too often: not served until its owner or an admin
    clears it (``DELETE .../versions/{v}/quarantine``)."""

    code = "model_quarantined"
    message = "This model version is quarantined"


class NotQuarantined(RegistryError, NotFound):
    code = "not_quarantined"
    message = "This model version is not quarantined"
