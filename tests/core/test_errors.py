"""Domain errors: all in one module, each with its own code and a category the edges translate."""

from __future__ import annotations

import inspect

from evscada.core import errors
from evscada.core.errors import DomainError, ErrorCategory


def domain_errors() -> list[type[DomainError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, DomainError) and cls is not DomainError
    ]


def test_every_domain_error_names_a_category() -> None:
    assert all(isinstance(cls.__dict__.get("category"), ErrorCategory) for cls in domain_errors())


def test_each_domain_error_has_its_own_code() -> None:
    codes = [cls.code for cls in domain_errors()]
    assert len(codes) == len(set(codes)) == 32


def test_no_domain_error_is_declared_outside_the_errors_module() -> None:
    def subclasses(cls: type) -> list[type]:
        return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]

    import evscada.app
    import evscada.cli  # noqa: F401  (with the app: every module that could declare one is loaded)

    assert {cls.__module__ for cls in subclasses(DomainError)} == {"evscada.core.errors"}
