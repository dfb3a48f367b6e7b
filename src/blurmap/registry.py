"""A name -> class registry filled by class decorators (networks, training recipes).

The classes register themselves when their modules are imported; a registry knows the
package that holds them and imports all of its public modules before answering, so a
lookup never depends on which modules happen to have been imported already.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes by name.

    Args:
        kind: what is registered, for messages (``"model"``, ``"recipe"``).
        package: dotted package whose public modules (not starting with ``_``) define them.
        attribute: class attribute set to the registered name.
        error: exception raised for an unknown name (one line listing the known names).
        known: the words before that list (``"known"``, ``"known recipes"``).
    """

    def __init__(self, kind: str, package: str, *, attribute: str = "registry_name",
                 error: type[Exception] = KeyError, known: str = "known"):
        self.kind, self.package, self.attribute, self.error, self.known = kind, package, attribute, error, known
        self._classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: register the class as ``name`` (a second class under one name is an error)."""

        def deco(cls):
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} name {name!r} registered twice")
            self._classes[name] = cls
            setattr(cls, self.attribute, name)
            return cls

        return deco

    def _import_all(self) -> None:
        # Importing the modules runs their registering decorators.
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def get(self, name: str) -> T:
        """The class registered as ``name``; ``error`` naming the known ones otherwise."""
        self._import_all()
        if name not in self._classes:
            raise self.error(f"unknown {self.kind} {name!r}; {self.known}: {', '.join(sorted(self._classes))}")
        return self._classes[name]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._import_all()
        return sorted(self._classes)

    # dict-like read access to what is registered so far (no imports)
    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __getitem__(self, name: str) -> T:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)
